/**
 * FLARE's Client API executors by their class paths (what FLARE's ScriptRunner, recipes and job
 * templates write into config_fed_client.json), each run by Cohort's ExternalProcessExecutor: the
 * training script is a confined process of its own, also where FLARE would run it inside its job
 * process (`in_process`), since Cohort never runs job Python in a site's processes. Scripts import
 * `nvflare.client` unchanged: the shim in python/flare_shim serves it from cohort_flare.
 *
 * Arguments are translated (docs/client-api.md, "FLARE scripts unchanged"): mapped ones become
 * ExternalProcessExecutor args; ones with no meaning in Cohort (pipes, heartbeats, polling, memory
 * tuning) are named in one warning; values Cohort cannot honour are refused with the reason; an
 * argument FLARE's class does not have is refused, as FLARE refuses it.
 */
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { ClientApiErrorCode } from "../client-api/errors.js";
import { ExternalProcessExecutor, externalProcessArgs } from "./external-process-executor.js";
import { registerComponent, type JobContextBase } from "./registry.js";

const PKG = "nvflare.app_common.executors";
export const FLARE_CLIENT_API_EXECUTOR = `${PKG}.client_api_executor.ClientAPIExecutor`;
export const FLARE_IN_PROCESS_EXECUTOR = `${PKG}.in_process_client_api_executor.InProcessClientAPIExecutor`;
export const FLARE_LAUNCHER_EXECUTOR = `${PKG}.client_api_launcher_executor.ClientAPILauncherExecutor`;
export const FLARE_SUBPROCESS_LAUNCHER = "nvflare.app_common.launchers.subprocess_launcher.SubprocessLauncher";

/** Cohort's own ExternalProcessExecutor args, also taken on FLARE's paths (they win over the FLARE arguments they overlap). */
const COHORT_KEYS = ["task_timeout", "stop_grace", "config", "interpreter", "env", "python_path", "conform_params", "submit_model_by_script", "max_message_mb"];
const cohortKeys = Object.fromEntries(COHORT_KEYS.map((k) => [k, z.unknown().optional()]));

const seconds = z.number().min(0).nullish();
const taskName = z.string().min(1).optional();
const argv = z.union([z.string(), z.array(z.string().min(1).max(4096)).max(256)]);
const converterId = z.string().nullish();

/** What every FLARE Client API executor takes. */
const common = z.object({
  ...cohortKeys,
  train_task_name: taskName,
  evaluate_task_name: taskName,
  submit_model_task_name: taskName,
  train_with_evaluation: z.boolean().optional(),
  params_exchange_format: z.string().optional(),
  server_expected_format: z.string().optional(),
  params_transfer_type: z.string().optional(),
  memory_gc_rounds: z.number().int().min(0).optional(),
  cuda_empty_cache: z.boolean().optional(),
});
const COMMON_IGNORED = ["train_with_evaluation", "memory_gc_rounds", "cuda_empty_cache"];

const clientApiExecutorArgs = common
  .extend({
    execution_mode: z.enum(["in_process", "external_process", "attach"]),
    command: argv.nullish(),
    task_script_path: z.string().nullish(),
    task_script_args: argv.optional(),
    launch_once: z.boolean().optional(),
    shutdown_timeout: seconds,
    result_wait_timeout: seconds,
    launch_timeout: seconds,
    stop_grace_period: seconds,
    heartbeat_interval: seconds,
    heartbeat_timeout: seconds,
    task_wait_timeout: seconds,
    attach_id: z.string().nullish(),
    attach_timeout: seconds,
    allow_reconnect: z.boolean().optional(),
    allow_insecure_attach: z.boolean().optional(),
  })
  .strict();

const inProcessExecutorArgs = common
  .extend({
    task_script_path: z.string(),
    task_script_args: argv.optional(),
    task_wait_time: seconds,
    result_pull_interval: seconds,
    log_pull_interval: seconds,
    from_nvflare_converter_id: converterId,
    to_nvflare_converter_id: converterId,
  })
  .strict();

const launcherExecutorArgs = common
  .extend({
    pipe_id: z.string().optional(),
    launcher_id: z.string().nullish(),
    task_wait_timeout: seconds,
    launch_timeout: seconds,
    last_result_transfer_timeout: seconds,
    external_pre_init_timeout: seconds,
    peer_read_timeout: seconds,
    monitor_interval: seconds,
    read_interval: seconds,
    heartbeat_interval: seconds,
    heartbeat_timeout: seconds,
    workers: z.number().int().min(1).optional(),
    config_file_name: z.string().optional(),
    from_nvflare_converter_id: converterId,
    to_nvflare_converter_id: converterId,
  })
  .strict();

const subprocessLauncherArgs = z
  .object({ script: z.string().min(1), launch_once: z.boolean().nullish(), clean_up_script: z.string().nullish(), shutdown_timeout: seconds })
  .strict();

/** FLARE's SubprocessLauncher component: only its arguments, read by the ClientAPILauncherExecutor that names it. */
export class FlareSubprocessLauncher {
  constructor(readonly args: z.infer<typeof subprocessLauncherArgs>) {}
}

/** A refusal naming the FLARE class, the argument and why. */
function refuse(cls: string, message: string, details: Record<string, unknown> = {}): CohortError {
  return new CohortError(ClientApiErrorCode.Config, `FLARE's ${cls}: ${message}`, { executor: cls, ...details });
}

function parseArgs<S extends z.ZodType>(cls: string, schema: S, args: Record<string, unknown>): z.infer<S> {
  const r = schema.safeParse(args);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  if (issue?.code === "unrecognized_keys")
    throw refuse(cls, `unknown argument ${issue.keys.map((k) => JSON.stringify(k)).join(", ")} (FLARE's ${cls} has no such argument, nor has Cohort)`, {
      keys: issue.keys,
    });
  throw refuse(cls, `argument ${issue?.path.join(".") || "(args)"}: ${issue?.message ?? "invalid"}`);
}

// Shell syntax: Cohort runs commands without a shell (as FLARE does: shlex.split, then exec).
const SHELL_SYNTAX = /[|&;()<>$`\\\n\r]/;
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/;

/**
 * A FLARE command string as argv: words split on whitespace, '…' and "…" group (no escapes). Shell
 * syntax is refused rather than passed on as literal arguments; so is a template placeholder left
 * unresolved.
 */
export function splitCommand(cls: string, what: string, text: string): string[] {
  const placeholder = PLACEHOLDER.exec(text);
  if (placeholder)
    throw refuse(
      cls,
      `${what} ${JSON.stringify(text)} still has the placeholder {${placeholder[1]}}: FLARE fills it from the config's top-level "${placeholder[1]}" key; write the value into ${what}`,
      { [what]: text },
    );
  const shell = SHELL_SYNTAX.exec(text);
  if (shell)
    throw refuse(
      cls,
      `${what} ${JSON.stringify(text)} contains ${JSON.stringify(shell[0])}, which is shell syntax: Cohort runs the command without a shell, so give only the program and its arguments (or an argv list)`,
      { [what]: text },
    );
  const words: string[] = [];
  const word = /"([^"]*)"|'([^']*)'|([^\s"']+)|(["'])/g;
  let current: string | undefined;
  let last = 0;
  for (let m = word.exec(text); m; m = word.exec(text)) {
    if (m[4]) throw refuse(cls, `${what} ${JSON.stringify(text)} has an unmatched ${m[4]} quote`, { [what]: text });
    const piece = m[1] ?? m[2] ?? m[3] ?? "";
    // Adjacent pieces (no whitespace between) form one word, as in a shell: a"b c" is `ab c`.
    if (current !== undefined && m.index === last) current += piece;
    else {
      if (current !== undefined) words.push(current);
      current = piece;
    }
    last = word.lastIndex;
  }
  if (current !== undefined) words.push(current);
  return words;
}

function asArgv(cls: string, what: string, value: string | readonly string[] | null | undefined): string[] {
  if (value === undefined || value === null) return [];
  return typeof value === "string" ? splitCommand(cls, what, value) : [...value];
}

/** FLARE runs commands from the app folder (`custom/train.py`); Cohort from its custom/ folder. */
const fromCustom = (word: string): string => word.replace(/^(\.\/)?custom\//, "");

/** A FLARE command as argv run from custom/: a program given as custom/x stays a path (./x), not a name to look up on PATH. */
const commandFromCustom = (argv: readonly string[]): string[] => argv.map((w, i) => (i === 0 && fromCustom(w) !== w ? `./${fromCustom(w)}` : fromCustom(w)));

/** FLARE's in-process script path: a .py file in the app's custom/ folder. */
function scriptInCustom(cls: string, path: string): string {
  const p = fromCustom(path.trim());
  if (!p.endsWith(".py") || p.startsWith("/") || p.split("/").includes(".."))
    throw refuse(cls, `task_script_path ${JSON.stringify(path)} must be a .py file inside the app's custom/ folder`, { task_script_path: path });
  return p;
}

/** FLARE's exchange formats Cohort's Python Client API honours: what the script gets and sends (the wire carries numpy arrays). */
const EXCHANGE_FORMATS: Readonly<Record<string, "numpy" | "pytorch">> = { numpy: "numpy", raw: "numpy", pytorch: "pytorch" };

function checkFormat(cls: string, key: string, value: string | undefined): "numpy" | "pytorch" | undefined {
  if (value === undefined) return undefined;
  const format = EXCHANGE_FORMATS[value.toLowerCase()];
  if (format !== undefined) return format;
  throw refuse(
    cls,
    `${key} ${JSON.stringify(value)} is not supported: Cohort's Python Client API hands scripts numpy arrays, or torch tensors with "pytorch", ` +
      `and converts to no other framework (use "numpy" or "pytorch"; a script may convert itself)`,
    { [key]: value },
  );
}

function transferType(cls: string, value: string | undefined): "FULL" | "DIFF" | undefined {
  if (value === undefined) return undefined;
  const v = value.toUpperCase();
  if (v === "FULL" || v === "DIFF") return v;
  throw refuse(cls, `params_transfer_type ${JSON.stringify(value)} must be "FULL" or "DIFF"`, { params_transfer_type: value });
}

function refuseConverters(cls: string, a: { from_nvflare_converter_id?: string | null; to_nvflare_converter_id?: string | null }): void {
  for (const key of ["from_nvflare_converter_id", "to_nvflare_converter_id"] as const) {
    const id = a[key];
    if (id)
      throw refuse(
        cls,
        `${key} ${JSON.stringify(id)} names a FLARE ParamsConverter, which Cohort cannot run: scripts get and send numpy arrays (params_exchange_format "numpy")`,
        { [key]: id },
      );
  }
}

/** How the script is run, as FLARE's executor describes it. */
interface Launch {
  readonly command: string[];
  readonly inProcess: boolean;
  readonly launchOnce: boolean;
  /** FLARE's seconds to wait for an orderly exit (0 or none: Cohort's default). */
  readonly shutdownTimeout?: number | null;
  readonly taskTimeout?: number | null;
}

/**
 * The ExternalProcessExecutor for a FLARE executor's arguments: the common ones mapped, the ignored
 * ones (present in `args`) named in one warning, the launch logged.
 */
function build(cls: string, a: z.infer<typeof common>, launch: Launch, ignored: readonly string[], ctx: JobContextBase): ExternalProcessExecutor {
  const exchange = checkFormat(cls, "params_exchange_format", a.params_exchange_format);
  // The server holds numpy arrays whatever it expects (a PyTorch persistor keeps them as safetensors).
  checkFormat(cls, "server_expected_format", a.server_expected_format);
  const flare: Record<string, unknown> = {
    command: launch.command,
    launch_once: launch.launchOnce,
    stop_grace: launch.shutdownTimeout ? launch.shutdownTimeout : undefined,
    task_timeout: launch.taskTimeout ?? undefined,
    train_task_name: a.train_task_name,
    evaluate_task_name: a.evaluate_task_name,
    submit_model_task_name: a.submit_model_task_name,
    params_transfer_type: transferType(cls, a.params_transfer_type),
    // FLARE's default is pytorch: a FLARE-exported PyTorch job leaves the argument out.
    params_exchange_format: exchange ?? "auto",
    // FLARE hands every task to the script, submit_model included.
    submit_model_by_script: true,
  };
  const own = Object.fromEntries(COHORT_KEYS.filter((k) => (a as Record<string, unknown>)[k] !== undefined).map((k) => [k, (a as Record<string, unknown>)[k]]));
  const r = externalProcessArgs.safeParse({ ...flare, ...own });
  if (!r.success) {
    const issue = r.error.issues[0];
    const key = String(issue?.path[0] ?? "args");
    const from = key === "stop_grace" && own[key] === undefined ? " (FLARE's shutdown_timeout)" : "";
    throw refuse(cls, `${key}${from}: ${issue?.message ?? "invalid"} (an argument of cohort.ExternalProcessExecutor)`, { key });
  }
  const present = ignored.filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  if (present.length > 0) ctx.warn(`FLARE's ${cls}: ignored, no meaning in Cohort: ${present.join(", ")}`);
  const shown = r.data.command.join(" ");
  ctx.log(
    launch.inProcess
      ? `FLARE's ${cls}: in-process execution runs as a confined external process in Cohort (never inside a site process): ${shown}`
      : `FLARE's ${cls}: runs ${shown} as a confined external process`,
  );
  return new ExternalProcessExecutor(r.data, ctx);
}

/** `python3 -u <script> <args>`: FLARE's in-process script, as Cohort runs it. */
const pythonScript = (cls: string, path: string, args: string | readonly string[] | undefined): string[] => [
  "python3",
  "-u",
  scriptInCustom(cls, path),
  ...asArgv(cls, "task_script_args", args),
];

function clientApiExecutor(args: Record<string, unknown>, ctx: JobContextBase): ExternalProcessExecutor {
  const cls = "ClientAPIExecutor";
  const a = parseArgs(cls, clientApiExecutorArgs, args);
  if (a.execution_mode === "attach")
    throw refuse(
      cls,
      `execution_mode "attach" connects a trainer started outside the site; Cohort starts and confines every training process itself: use "external_process" or "in_process"`,
      { execution_mode: a.execution_mode },
    );
  const inProcess = a.execution_mode === "in_process";
  let command: string[];
  if (inProcess) {
    if (a.command) throw refuse(cls, `command is only valid for execution_mode "external_process" (FLARE refuses it too); use task_script_path`);
    if (!a.task_script_path) throw refuse(cls, `execution_mode "in_process" needs task_script_path (the .py script in custom/)`);
    command = pythonScript(cls, a.task_script_path, a.task_script_args);
  } else {
    if (a.task_script_path || a.task_script_args?.length)
      throw refuse(cls, `task_script_path and task_script_args are only valid for execution_mode "in_process" (FLARE refuses them too); use command`);
    command = commandFromCustom(asArgv(cls, "command", a.command));
    if (command.length === 0) throw refuse(cls, `execution_mode "external_process" needs a command (e.g. "python3 -u custom/train.py")`);
  }
  const ignored = [
    ...COMMON_IGNORED,
    "launch_timeout",
    "stop_grace_period",
    "heartbeat_interval",
    "heartbeat_timeout",
    "task_wait_timeout",
    "attach_id",
    "attach_timeout",
    "allow_reconnect",
    "allow_insecure_attach",
  ];
  const launch = {
    command,
    inProcess,
    launchOnce: inProcess || (a.launch_once ?? true),
    shutdownTimeout: a.shutdown_timeout,
    taskTimeout: a.result_wait_timeout,
  };
  return build(cls, a, launch, ignored, ctx);
}

function inProcessExecutor(args: Record<string, unknown>, ctx: JobContextBase): ExternalProcessExecutor {
  const cls = "InProcessClientAPIExecutor";
  const a = parseArgs(cls, inProcessExecutorArgs, args);
  refuseConverters(cls, a);
  const launch = { command: pythonScript(cls, a.task_script_path, a.task_script_args), inProcess: true, launchOnce: true, taskTimeout: a.task_wait_time };
  return build(cls, a, launch, [...COMMON_IGNORED, "result_pull_interval", "log_pull_interval"], ctx);
}

function launcherExecutor(args: Record<string, unknown>, ctx: JobContextBase): ExternalProcessExecutor {
  const cls = "ClientAPILauncherExecutor";
  const a = parseArgs(cls, launcherExecutorArgs, args);
  refuseConverters(cls, a);
  let launcher: unknown;
  try {
    launcher = a.launcher_id ? ctx.component(a.launcher_id) : undefined;
  } catch {
    launcher = undefined;
  }
  if (!(launcher instanceof FlareSubprocessLauncher))
    throw refuse(
      cls,
      `launcher_id ${JSON.stringify(a.launcher_id ?? null)} must name a ${FLARE_SUBPROCESS_LAUNCHER} component of the app (it holds the command)`,
      {
        launcher_id: a.launcher_id ?? null,
      },
    );
  const l = launcher.args;
  if (l.clean_up_script) ctx.warn(`FLARE's SubprocessLauncher: ignored, no meaning in Cohort: clean_up_script`);
  const launch = {
    command: commandFromCustom(splitCommand(cls, "SubprocessLauncher script", l.script)),
    inProcess: false,
    launchOnce: l.launch_once ?? true,
    shutdownTimeout: l.shutdown_timeout,
    taskTimeout: a.task_wait_timeout,
  };
  const ignored = [
    ...COMMON_IGNORED,
    "pipe_id",
    "launch_timeout",
    "last_result_transfer_timeout",
    "external_pre_init_timeout",
    "peer_read_timeout",
    "monitor_interval",
    "read_interval",
    "heartbeat_interval",
    "heartbeat_timeout",
    "workers",
    "config_file_name",
  ];
  return build(cls, a, launch, ignored, ctx);
}

registerComponent({ paths: [FLARE_CLIENT_API_EXECUTOR], kind: "executor", startsProcesses: true, create: clientApiExecutor });
registerComponent({ paths: [FLARE_IN_PROCESS_EXECUTOR], kind: "executor", startsProcesses: true, create: inProcessExecutor });
registerComponent({ paths: [FLARE_LAUNCHER_EXECUTOR], kind: "executor", startsProcesses: true, create: launcherExecutor });
registerComponent({
  paths: [FLARE_SUBPROCESS_LAUNCHER],
  kind: "component",
  create: (args) => new FlareSubprocessLauncher(parseArgs("SubprocessLauncher", subprocessLauncherArgs, args)),
});
// The rest of what FLARE's older ScriptRunner puts beside a ClientAPILauncherExecutor (ConvertToFedEvent
// is registered with FLARE's widgets). Cohort's channel is the pipe, log messages carry the metrics
// (joined to results, written to the site log), and nothing needs configuring outside the job: these
// are accepted and do nothing.
registerComponent({
  paths: [
    "nvflare.fuel.utils.pipe.cell_pipe.CellPipe",
    "nvflare.app_common.widgets.metric_relay.MetricRelay",
    "nvflare.app_common.widgets.external_configurator.ExternalConfigurator",
  ],
  kind: "component",
  create: () => ({}),
});
