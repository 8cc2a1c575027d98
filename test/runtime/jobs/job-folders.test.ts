/**
 * Job folders (src/runtime/jobs/definition.ts): meta and app configs as JSON or HOCON (FLARE's
 * templates as `nvflare job create` lays them out), validated alike; both forms refused; FLARE's
 * name rules and the simulator's safe folder name; warnings for keys Cohort does not read; keys the
 * server sets dropped; task routing checked at load; messages naming the user's path (`shownAs`).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { isCohortError } from "../../../src/errors/index.js";
import { JOB_NAME_MAX, jobMetaFile, loadJobFolder, metaSchema, readJobMeta, SERVER_SET_META } from "../../../src/runtime/jobs/definition.js";
import { RuntimeErrorCode } from "../../../src/runtime/jobs/errors.js";
import { HOCON_MAX_BYTES } from "../../../src/runtime/jobs/hocon.js";
import { storedMetaSchema } from "../../../src/runtime/jobs/store.js";
import { defaultSimulatorWorkspace, simulatorFolderName } from "../../../src/runtime/simulator/workspace.js";
import { tempDir } from "../../helpers/index.js";
import { basicJob, flareSkip, jobFromTemplate, writeJob } from "./fixtures.js";

/** Asserts `fn` throws a CohortError with `code` whose message matches every pattern. */
function throwsCode(fn: () => unknown, code: string, ...patterns: RegExp[]): string {
  let message = "";
  assert.throws(fn, (e: unknown) => {
    assert.ok(isCohortError(e), String(e));
    assert.equal(e.code, code, e.message);
    for (const p of patterns) assert.match(e.message, p);
    message = e.message;
    return true;
  });
  return message;
}

/** basicJob() with some files replaced or added and others left out. */
function replaced(files: Record<string, unknown>, ...without: string[]): Record<string, unknown> {
  return Object.fromEntries([...Object.entries(basicJob()).filter(([name]) => !without.includes(name)), ...Object.entries(files)]);
}

const hocon = (o: unknown): string => JSON.stringify(o).replace(/"([A-Za-z_]+)":/g, "$1 = ");

describe("FLARE's templates as job folders", { skip: flareSkip }, () => {
  test("sag_np (meta.conf, config_fed_*.conf) loads; FLARE's {name} variables fill the config's strings, as FLARE's loader does", () => {
    const job = loadJobFolder(jobFromTemplate("sag_np"));
    assert.equal(job.meta.name, "sag_np");
    assert.equal(job.meta.min_clients, 2);
    const app = job.apps.get("app");
    assert.ok(app?.server && app.client);
    assert.match(app.files.server ?? "", /app\/config\/config_fed_server\.conf$/);
    assert.match(app.files.client ?? "", /app\/config\/config_fed_client\.conf$/);
    assert.equal(app.server.components[3]?.args["key_metric"], "accuracy");
    assert.deepEqual(app.client.executors[0]?.tasks, ["train"]);
    assert.equal(app.client.executors[0]?.executor.args["command"], "python3 -u custom/cifar10.py   ", "{app_script} and {app_config} filled");
    assert.doesNotMatch(job.warnings.join("\n"), /app_script|app_config/, "used variables are not warned about");
  });

  test("sag_cross_np, cyclic_pt (meta.json with .conf configs), swarm_cse_pt (task patterns swarm_*, cse_*) load", () => {
    const cross = loadJobFolder(jobFromTemplate("sag_cross_np"));
    assert.equal(cross.meta.name, "sag");
    assert.match(cross.warnings.join("\n"), /meta\.conf: required_clients: ignored \(not a key Cohort knows\)/);
    assert.match(cross.warnings.join("\n"), /config_fed_server\.conf: server: ignored \(the server's settings come from its kit/);
    const cyclic = loadJobFolder(jobFromTemplate("cyclic_pt"));
    assert.match(jobMetaFile(cyclic.dir) ?? "", /meta\.json$/);
    // model_class_path is a FLARE config variable: "{model_class_path}" in the persistor's args is filled.
    const persistor = cyclic.apps.get("app")?.server?.components.find((c) => c.id === "persistor");
    assert.deepEqual(persistor?.args["model"], { path: "net.Net" });
    assert.doesNotMatch(cyclic.warnings.join("\n"), /model_class_path/);
    const swarm = loadJobFolder(jobFromTemplate("swarm_cse_pt"));
    assert.deepEqual(
      swarm.apps.get("app")?.client?.executors.map((e) => e.tasks),
      [["train", "validate", "submit_model"], ["swarm_*"], ["cse_*"]],
    );
  });
});

describe("JSON or HOCON", () => {
  test("a .conf job validates exactly as its .json twin: same values, same refusals", () => {
    const files = basicJob();
    const asJson = loadJobFolder(writeJob(files));
    const conf = Object.fromEntries(Object.entries(files).map(([name, v]) => [name.replace(/\.json$/, ".conf"), hocon(v)]));
    const asConf = loadJobFolder(writeJob(conf));
    assert.deepEqual(asConf.meta, asJson.meta);
    assert.deepEqual(asConf.apps.get("app")?.server, asJson.apps.get("app")?.server);
    assert.deepEqual(asConf.apps.get("app")?.client, asJson.apps.get("app")?.client);
    const bad = (ext: string) => {
      const meta = ext === "json" ? { name: "x", deploy_map: { app: ["@ALL"] }, min_clients: 0 } : 'name = x\ndeploy_map { app = ["@ALL"] }\nmin_clients = 0';
      return throwsCode(() => loadJobFolder(writeJob(replaced({ [`meta.${ext}`]: meta }, "meta.json"))), RuntimeErrorCode.BadJob, /min_clients: Too small/);
    };
    assert.equal(bad("json").replace(/^.*meta\.json/, "meta"), bad("conf").replace(/^.*meta\.conf/, "meta"));
  });

  test("a folder with both forms of a file is refused, naming both", () => {
    const both = writeJob({ ...basicJob(), "meta.conf": 'name = x\ndeploy_map { app = ["@ALL"] }' });
    throwsCode(() => loadJobFolder(both), RuntimeErrorCode.BadJob, /both meta\.json and meta\.conf are present; keep one/);
    const configs = writeJob({ ...basicJob(), "app/config/config_fed_client.conf": "executors = []" });
    throwsCode(
      () => loadJobFolder(configs),
      RuntimeErrorCode.BadJob,
      /app\/config\/config_fed_client: both config_fed_client\.json and config_fed_client\.conf are present; keep one/,
    );
  });

  test("a meta or config file larger than HOCON_MAX_BYTES is refused, JSON too; at the limit it is read", () => {
    for (const ext of ["json", "conf"]) {
      const sized = (bytes: number): string => {
        const head =
          ext === "json"
            ? '{"format_version": 2, "executors": [{"tasks": ["train"], "executor": {"path": "cohort.NoOpTrainer"}}], "pad": "'
            : 'executors = [{ tasks = [train], executor.path = cohort.NoOpTrainer }]\npad = "';
        const tail = ext === "json" ? '"}' : '"';
        return head + "x".repeat(bytes - head.length - tail.length) + tail;
      };
      const file = `app/config/config_fed_client.${ext}`;
      const at = writeJob(replaced({ [file]: sized(HOCON_MAX_BYTES) }, "app/config/config_fed_client.json"));
      assert.equal(readFileSync(join(at, "app", "config", `config_fed_client.${ext}`)).length, HOCON_MAX_BYTES);
      assert.match(loadJobFolder(at).warnings.join("\n"), /pad: ignored/);
      const over = writeJob(replaced({ [file]: sized(HOCON_MAX_BYTES + 1) }, "app/config/config_fed_client.json"));
      throwsCode(
        () => loadJobFolder(over),
        RuntimeErrorCode.ConfigLimit,
        new RegExp(`config_fed_client\\.${ext}: ${HOCON_MAX_BYTES + 1} bytes; .* at most ${HOCON_MAX_BYTES} bytes`),
      );
    }
  });

  test("a __proto__ key is refused in JSON and HOCON files; a config that is not a file is refused", () => {
    const meta = '{"name": "x", "deploy_map": {"app": ["@ALL"]}, "__proto__": {"scope": "injected"}}';
    throwsCode(() => loadJobFolder(writeJob(replaced({ "meta.json": meta }))), RuntimeErrorCode.BadJob, /meta\.json: the key "__proto__" is not allowed/);
    throwsCode(
      () => loadJobFolder(writeJob(replaced({ "meta.conf": 'name = x\ndeploy_map { app = ["@ALL"] }\n__proto__.scope = injected' }, "meta.json"))),
      RuntimeErrorCode.ConfigSyntax,
      /meta\.conf:3:1: the key "__proto__" is not allowed/,
    );
    const dir = writeJob(replaced({}, "app/config/config_fed_client.json"));
    mkdirSync(join(dir, "app", "config", "config_fed_client.json"));
    throwsCode(() => loadJobFolder(dir), RuntimeErrorCode.BadJob, /config_fed_client\.json: not a file/);
  });

  test("HOCON errors and refusals in a job file name the file, line and column", () => {
    const dir = writeJob(replaced({ "meta.conf": `name = x\ndeploy_map { app = ["@ALL"] }\nmin_clients = \${HOME}\n` }, "meta.json"));
    throwsCode(
      () => loadJobFolder(dir, { shownAs: "my_job" }),
      RuntimeErrorCode.ConfigSubstitution,
      /^my_job\/meta\.conf:3:15: the substitution "\$\{HOME\}" is not defined/,
    );
    writeFileSync(join(dir, "meta.conf"), 'include "../other/meta.conf"\n');
    throwsCode(() => loadJobFolder(dir, { shownAs: "my_job" }), RuntimeErrorCode.ConfigInclude, /^my_job\/meta\.conf:1:1: include is refused/);
  });
});

describe("names", () => {
  test("a job's name is any string FLARE allows; control characters, bidi controls and lone surrogates are refused", () => {
    const withName = (name: string) => metaSchema.safeParse({ name, deploy_map: { app: ["@ALL"] } });
    for (const name of ["sag_np", "my job (v2)", "../../etc/passwd", "Ünïcødé ✓ 😀", "a/b\\c", ".", "x".repeat(JOB_NAME_MAX)])
      assert.ok(withName(name).success, name);
    for (const [name, why] of [
      ["", /is empty/],
      ["x".repeat(JOB_NAME_MAX + 1), /longer than 1000/],
      ["line\nbreak", /control character/],
      ["esc\u001b[31m", /control character/],
      ["c1\u0085", /control character/],
      ["rtl\u202eevil", /bidirectional-text control/],
      ["iso\u2066x", /bidirectional-text control/],
      ["half\ud800", /lone surrogate/],
    ] as const) {
      const r = withName(name);
      assert.ok(!r.success, JSON.stringify(name));
      assert.match(r.error.issues[0]?.message ?? "", why);
    }
    // In a job folder: the refusal names the file and the field.
    throwsCode(
      () => loadJobFolder(writeJob({ ...basicJob(), "meta.json": { name: "a\nb", deploy_map: { app: ["@ALL"] } } })),
      RuntimeErrorCode.BadJob,
      /meta\.json: name: has a control character/,
    );
    assert.equal(
      loadJobFolder(writeJob({ ...basicJob(), "meta.json": { name: "../../evil name", deploy_map: { app: ["@ALL"] } } })).meta.name,
      "../../evil name",
    );
  });

  test("the simulator's default workspace is a safe folder name made from the job name", () => {
    assert.equal(simulatorFolderName("hello-numpy_2.0"), "hello-numpy_2.0");
    assert.equal(defaultSimulatorWorkspace("sag_np"), join(homedir(), ".cohort", "simulator", "sag_np"));
    for (const name of ["../../etc", "..", ".", ".hidden", "a/b", "my job", "é", "", "x".repeat(300), "a\\b"]) {
      const folder = simulatorFolderName(name);
      assert.match(folder, /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,80}$/, `${JSON.stringify(name)} → ${folder}`);
      assert.ok(!folder.startsWith("."), folder);
      assert.equal(join(homedir(), ".cohort", "simulator", folder).startsWith(`${join(homedir(), ".cohort", "simulator")}/`), true);
    }
    assert.notEqual(simulatorFolderName("a b"), simulatorFolderName("a_b"), "names that had to change carry their hash");
    assert.notEqual(simulatorFolderName("a b"), simulatorFolderName("a?b"));
  });
});

describe("warnings and keys the server sets", () => {
  test("keys Cohort ignores are warned with file, field and why; unknown keys too, at any level", () => {
    const files = basicJob();
    const dir = writeJob({
      ...files,
      "meta.json": { ...(files["meta.json"] as object), launcher_spec: { default: { k8s: {} } }, study: "s1", info: { x: 1 } },
      "app/config/config_fed_client.json": {
        format_version: 2,
        app_script: "train.py",
        extras: { a: 1 },
        executors: [{ tasks: ["train"], description: "d", executor: { path: "cohort.NoOpTrainer", args: {}, comment: "c" } }],
        task_result_filters: [{ tasks: ["train"], filters: [{ name: "ExcludeVars", args: { exclude_vars: ["b"] }, note: 1 }] }],
      },
    });
    const { warnings } = loadJobFolder(dir, { shownAs: "submitted/my_job" });
    assert.deepEqual(warnings, [
      "submitted/my_job/meta.json: launcher_spec: ignored (Cohort runs every job in its own confined process)",
      "submitted/my_job/meta.json: study: ignored (Cohort has no studies)",
      "submitted/my_job/meta.json: info: ignored (not a key Cohort knows)",
      'submitted/my_job/app/config/config_fed_client.json: app_script: ignored (a config variable that no "{name}" in the config uses)',
      "submitted/my_job/app/config/config_fed_client.json: extras: ignored (not a key Cohort knows)",
      "submitted/my_job/app/config/config_fed_client.json: executors[0].description: ignored (not a key Cohort knows)",
      "submitted/my_job/app/config/config_fed_client.json: executors[0].executor.comment: ignored (not a key Cohort knows)",
      "submitted/my_job/app/config/config_fed_client.json: task_result_filters[0].filters[0].note: ignored (not a key Cohort knows)",
    ]);
    assert.deepEqual(loadJobFolder(writeJob(basicJob())).warnings, [], "a plain job has no warnings");
  });

  test("keys the server sets (job_id, status, resumed_count …) are dropped from a submitted meta, with a warning", () => {
    const files = basicJob();
    const dir = writeJob({
      ...files,
      "meta.json": {
        ...(files["meta.json"] as object),
        job_id: "00000000-0000-4000-8000-000000000000",
        status: "RUNNING",
        resumed_count: 3,
        rounds: [{}],
        submitter_name: "root",
      },
    });
    const { meta, warnings } = readJobMeta(dir);
    for (const k of ["job_id", "status", "resumed_count", "rounds", "submitter_name"]) {
      assert.equal(k in meta, false, k);
      assert.ok(
        warnings.some((w) => w.endsWith(`meta.json: ${k}: ignored (the server sets it; the value here is dropped)`)),
        k,
      );
    }
    // Every key of the server's stored meta that a job's meta does not define is one the server sets.
    const stored = Object.keys(storedMetaSchema.shape).filter((k) => !(k in metaSchema.shape));
    assert.deepEqual(
      stored.filter((k) => !SERVER_SET_META.has(k)),
      [],
    );
  });
});

describe("task routing is checked at load", () => {
  const withClient = (client: Record<string, unknown>) => writeJob({ ...basicJob(), "app/config/config_fed_client.json": { format_version: 2, ...client } });
  const exec = (tasks: string[]) => ({ tasks, executor: { path: "cohort.NoOpTrainer", args: {} } });

  test("a task name listed twice in a list is refused at load, naming the file and both fields", () => {
    throwsCode(
      () => loadJobFolder(withClient({ executors: [exec(["train", "validate"]), exec(["validate"])] }), { shownAs: "my_job" }),
      RuntimeErrorCode.TaskRouting,
      /^my_job\/app\/config\/config_fed_client\.json: executors\[1\]\.tasks\[0\]: task "validate" is already listed at executors\[0\]\.tasks\[1\]; list each task name once/,
    );
    throwsCode(
      () => loadJobFolder(withClient({ executors: [exec(["train", "train"])] })),
      RuntimeErrorCode.TaskRouting,
      /executors\[0\]\.tasks\[1\]: task "train" is already listed/,
    );
    const filter = { name: "ExcludeVars", args: { exclude_vars: ["b"] } };
    throwsCode(
      () =>
        loadJobFolder(
          withClient({
            executors: [exec(["*"])],
            task_result_filters: [
              { tasks: ["train"], filters: [filter] },
              { tasks: ["train"], filters: [filter] },
            ],
          }),
        ),
      RuntimeErrorCode.TaskRouting,
      /task_result_filters\[1\]\.tasks\[0\]: task "train" is already listed at task_result_filters\[0\]\.tasks\[0\]/,
    );
    const server = writeJob(
      replaced(
        {
          "app/config/config_fed_server.conf":
            'workflows = [{ path = cohort.ScatterAndGather }]\ntask_data_filters = [{ tasks = ["a*"], filters = [] }, { tasks = ["ab*"], filters = [] }]',
        },
        "app/config/config_fed_server.json",
      ),
    );
    throwsCode(
      () => loadJobFolder(server),
      RuntimeErrorCode.TaskRouting,
      /config_fed_server\.conf: task_data_filters\[1\]\.tasks\[0\]: the pattern "ab\*" and "a\*"/,
    );
  });

  test("two patterns of different entries that can both match one task are refused with an example; a catch-all listed last is not", () => {
    throwsCode(
      () => loadJobFolder(withClient({ executors: [exec(["*"]), exec(["swarm_*"])] })),
      RuntimeErrorCode.TaskRouting,
      /executors\[1\]\.tasks\[0\]: the pattern "swarm_\*" and "\*" \(executors\[0\]\.tasks\[0\]\) both match a task such as "swarm_"; make the patterns disjoint/,
    );
    throwsCode(
      () => loadJobFolder(withClient({ executors: [exec(["*_learn"]), exec(["swarm_*"])] })),
      RuntimeErrorCode.TaskRouting,
      /a task such as "swarm_learn"/,
    );
    const ok = loadJobFolder(withClient({ executors: [exec(["train", "swarm_*", "sw*_x"]), exec(["cse_*"]), exec(["*"])] }));
    assert.equal(ok.apps.get("app")?.client?.executors.length, 3);
  });
});

describe("messages name the user's folder, never a temporary copy", () => {
  test("shownAs: every refusal and warning names the job as the user knows it", () => {
    const copy = join(tempDir("cohort-submit-"), "unpacked");
    cpSync(writeJob(basicJob()), copy, { recursive: true });
    const cases: [(d: string) => void, RegExp][] = [
      [(d) => writeFileSync(join(d, "meta.json"), "{ not json"), /^my_job\/meta\.json: not valid JSON/],
      [
        (d) => writeFileSync(join(d, "meta.json"), JSON.stringify({ name: "x", deploy_map: { gone: ["@ALL"] } })),
        /my_job\/meta\.json: deploy_map names app "gone" but my_job\/gone does not exist/,
      ],
      [
        (d) => renameSync(join(d, "app", "config", "config_fed_client.json"), join(d, "app", "config", "x.json")),
        /my_job\/app\/config\/config_fed_client\.json \(or \.conf\) is missing/,
      ],
      [(d) => writeFileSync(join(d, "app", "config", "config_fed_server.json"), "{}"), /^my_job\/app\/config\/config_fed_server\.json: workflows: /],
      [(d) => renameSync(join(d, "meta.json"), join(d, "x.json")), /^my_job\/meta\.json: missing; a job folder needs meta\.json or meta\.conf/],
    ];
    for (const [spoil, re] of cases) {
      const dir = join(tempDir("cohort-submit-"), "tmp-unpacked-123");
      cpSync(copy, dir, { recursive: true });
      spoil(dir);
      const message = throwsCode(() => loadJobFolder(dir, { shownAs: "my_job" }), RuntimeErrorCode.BadJob, re);
      assert.ok(!message.includes(dir) && !message.includes("tmp-unpacked"), message);
    }
    const job = loadJobFolder(copy, { shownAs: "my_job" });
    assert.equal(job.shownAs, "my_job");
    assert.equal(job.dir, copy);
    assert.deepEqual(job.apps.get("app")?.files, { server: "my_job/app/config/config_fed_server.json", client: "my_job/app/config/config_fed_client.json" });
  });
});
