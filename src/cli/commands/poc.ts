import type { Command } from "commander";
import { CohortError } from "../../errors/index.js";
import { checkSiteNames, SimulatorErrorCode } from "../../runtime/simulator/index.js";
import { cleanPoc, defaultPocWorkspace, PocErrorCode, pocProcesses, preparePoc, startPoc, stopPoc, type PocProgress } from "../../runtime/poc/index.js";
import { ExitCode, reportError } from "../output.js";
import { acceptFlareFlags, clientNames, listOf, parseGpuIds } from "../flare-flags.js";

/** FLARE's spellings of `nvflare poc` flags. */
const FLARE_SPELLINGS = {
  "-he": "--he",
  "-ex": "--exclude",
  "-gpu": "--gpu",
  "-debug": "--debug",
  "--number_of_clients": "--number-of-clients",
  "--project_input": "--project-input",
  "--docker_image": "--docker-image",
} as const;

/** `-p` and `-ex` as FLARE gives them. */
function selection(flags: { service?: string; exclude?: string[] }): { service?: string; exclude?: string[] } {
  return { ...(flags.service ? { service: flags.service } : {}), ...(flags.exclude ? { exclude: clientNames(flags.exclude) } : {}) };
}

const WORKSPACE_HELP = "the POC workspace (default: $COHORT_POC_WORKSPACE, else ~/.cohort/poc)";

async function act(work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    process.exitCode = reportError(
      err,
      err instanceof CohortError && (err.code === PocErrorCode.Usage || err.code === SimulatorErrorCode.Usage) ? ExitCode.InvalidInput : ExitCode.Failed,
    );
  }
}

function progressLine(): (p: PocProgress) => void {
  const tty = process.stdout.isTTY === true;
  return (p) => {
    const text =
      p.phase === "server"
        ? "poc: starting the server"
        : `poc: ${p.connected.length}/${p.total} sites connected${p.connected.length ? ` (${p.connected.join(", ")})` : ""}`;
    process.stdout.write(tty ? `\r${text}\x1b[K` : `${text}\n`);
  };
}

/** `cohort poc prepare|start|stop|clean` (FLARE's `nvflare poc`). */
export function registerPoc(program: Command): void {
  const poc = program
    .command("poc")
    .description("a real secure project on this machine: prepare (provision), start, stop and clean a server with sites site-1..site-N")
    .addHelpText("after", `\nWorkspace: -w, else $COHORT_POC_WORKSPACE, else ~/.cohort/poc (per user: the kits hold private keys).`);

  const prepare = poc
    .command("prepare")
    .description("provision a POC project: server, sites site-1..site-N and admin admin@cohort.poc (project_admin) on a free 127.0.0.1 port")
    .option("-n, --number-of-clients <count>", "sites site-1..site-<count>", "2")
    .option("-c, --clients <names...>", "site names instead: site-a site-b (FLARE) or site-a,site-b")
    .option("-w, --workspace <dir>", WORKSPACE_HELP)
    .option("-f, --force", "replace an existing POC workspace (its kits, logs and results are deleted)")
    .option("-i, --project-input <project.yml>", "FLARE: provision the POC from this project.yml (not supported yet: refused)")
    .option("-d, --docker-image [image]", "FLARE: docker.sh for the kits (not supported: refused)")
    .option("--debug", "FLARE's -debug (accepted; errors always name their cause)")
    .option(
      "--he",
      "homomorphic encryption: FLARE's HEBuilder adds a CKKS key pair (client_context.ckks in every site's kit, public parameters only at the server)",
    );
  acceptFlareFlags(prepare, FLARE_SPELLINGS);
  prepare.action(
    (flags: {
      numberOfClients: string;
      clients?: string[];
      workspace?: string;
      force?: boolean;
      he?: boolean;
      projectInput?: string;
      dockerImage?: string | true;
    }) =>
      act(async () => {
        if (flags.projectInput !== undefined)
          throw new CohortError(
            PocErrorCode.Usage,
            `-i ${flags.projectInput}: a POC from your own project.yml is not supported yet; provision it with 'cohort provision -p ${flags.projectInput}' and start each kit with its start.sh`,
            { value: flags.projectInput },
          );
        if (flags.dockerImage !== undefined)
          throw new CohortError(
            PocErrorCode.Usage,
            "-d/--docker_image: Cohort's POC runs its participants as processes on this machine; docker is not supported",
            {},
          );
        let sites: number | string[];
        if (flags.clients !== undefined) {
          sites = clientNames(flags.clients);
          checkSiteNames(sites);
        } else {
          sites = Number(flags.numberOfClients);
          if (!Number.isInteger(sites) || sites < 1)
            throw new CohortError(PocErrorCode.Usage, `-n ${JSON.stringify(flags.numberOfClients)}: give a whole number ≥ 1`, { value: flags.numberOfClients });
        }
        const p = await preparePoc({
          workspace: flags.workspace ?? defaultPocWorkspace(),
          sites,
          ...(flags.force ? { force: true } : {}),
          ...(flags.he ? { he: true } : {}),
        });
        process.stdout.write(
          [
            `prepared POC ${p.poc.project} in ${p.workspace}`,
            `  server ${p.poc.server.name} on ${p.poc.host}:${p.poc.port}; sites ${p.poc.sites.map((s) => s.name).join(", ")}; admin ${p.poc.admin.name} (project_admin)`,
            ...(flags.he ? ["  HE: CKKS key pair made; sites hold startup/client_context.ckks, the server startup/server_context.ckks (no secret key)"] : []),
            `  next: cohort poc start${flags.workspace ? ` -w ${p.workspace}` : ""}`,
            "",
          ].join("\n"),
        );
      }),
  );

  const start = poc
    .command("start")
    .description("start the server and every site as their own processes (mTLS); returns when all sites are connected (harmless when already running)")
    .option("-w, --workspace <dir>", WORKSPACE_HELP)
    .option("--timeout <seconds>", "give up waiting for the sites after this long", "60")
    .option("-p, --service <name>", "FLARE: start only this participant (server or a site; default all)")
    .option("--exclude <names...>", "FLARE's -ex: do not start these participants")
    .option("--gpu <ids...>", "FLARE's -gpu: GPU ids shared out among the sites' processes as CUDA_VISIBLE_DEVICES")
    .option("--debug", "FLARE's -debug (accepted)");
  acceptFlareFlags(start, FLARE_SPELLINGS);
  start.action((flags: { workspace?: string; timeout: string; service?: string; exclude?: string[]; gpu?: string[] }) =>
    act(async () => {
      const gpus = parseGpuIds(listOf(flags.gpu), PocErrorCode.Usage);
      const timeout = Number(flags.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0)
        throw new CohortError(PocErrorCode.Usage, `--timeout ${JSON.stringify(flags.timeout)}: give seconds > 0`, {});
      const s = await startPoc({
        workspace: flags.workspace ?? defaultPocWorkspace(),
        timeoutMs: timeout * 1000,
        onProgress: progressLine(),
        ...selection(flags),
        ...(gpus.length > 0 ? { gpus } : {}),
      });
      if (process.stdout.isTTY) process.stdout.write("\n");
      const admin = s.kits[s.poc.admin.name] ?? "";
      process.stdout.write(
        [
          s.started.length === 0
            ? `POC already running (${s.alreadyRunning.map((r) => `${r.name} pid ${r.pid}`).join(", ")})`
            : `POC running in ${s.seconds.toFixed(1)} s: ${s.started.map((r) => `${r.name} pid ${r.pid}`).join(", ")}${s.alreadyRunning.length ? ` (already running: ${s.alreadyRunning.map((r) => r.name).join(", ")})` : ""}`,
          `  admin: cohort admin ${admin} -c "check_status server"`,
          `  stop:  cohort poc stop${flags.workspace ? ` -w ${s.workspace}` : ""}`,
          "",
        ].join("\n"),
      );
    }),
  );

  const stop = poc
    .command("stop")
    .description("stop the processes 'poc start' recorded (SIGTERM, then SIGKILL after a grace period); returns when all have exited")
    .option("-w, --workspace <dir>", WORKSPACE_HELP)
    .option("--grace <seconds>", "seconds between SIGTERM and SIGKILL", "15")
    .option("-p, --service <name>", "FLARE: stop only this participant (default all)")
    .option("--exclude <names...>", "FLARE's -ex: leave these participants running")
    .option("--debug", "FLARE's -debug (accepted)");
  acceptFlareFlags(stop, FLARE_SPELLINGS);
  stop.action((flags: { workspace?: string; grace: string; service?: string; exclude?: string[] }) =>
    act(async () => {
      const grace = Number(flags.grace);
      if (!Number.isFinite(grace) || grace < 0) throw new CohortError(PocErrorCode.Usage, `--grace ${JSON.stringify(flags.grace)}: give seconds ≥ 0`, {});
      const stopped = await stopPoc({ workspace: flags.workspace ?? defaultPocWorkspace(), graceMs: grace * 1000, ...selection(flags) });
      const ran = stopped.filter((s) => s.how !== "not running");
      process.stdout.write(ran.length === 0 ? "POC was not running\n" : `POC stopped: ${ran.map((s) => `${s.name} pid ${s.pid} ${s.how}`).join(", ")}\n`);
    }),
  );

  poc
    .command("clean")
    .description("stop the POC if it runs and delete its workspace")
    .option("-w, --workspace <dir>", WORKSPACE_HELP)
    .action((flags: { workspace?: string }) =>
      act(async () => {
        const dir = flags.workspace ?? defaultPocWorkspace();
        const r = await cleanPoc({ workspace: dir });
        process.stdout.write(r.removed ? `POC workspace ${dir} removed\n` : `nothing to clean: ${dir} does not exist\n`);
      }),
    );

  poc
    .command("status")
    .description("the POC's recorded processes and whether each runs")
    .option("-w, --workspace <dir>", WORKSPACE_HELP)
    .action((flags: { workspace?: string }) =>
      act(async () => {
        const list = pocProcesses(flags.workspace ?? defaultPocWorkspace());
        process.stdout.write(
          list.length === 0
            ? "POC not started\n"
            : `${list.map((p) => `${p.name.padEnd(20)} pid ${String(p.pid).padEnd(8)} ${p.running ? "running" : "not running"}`).join("\n")}\n`,
        );
        await Promise.resolve();
      }),
    );
}
