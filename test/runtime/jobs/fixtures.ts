/**
 * FLARE's own job templates (unmodified, found by test/helpers/flare-data.ts: see its SOURCE.md), read in place,
 * and job folders built from them or from plain objects in temp dirs.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../helpers/index.js";
import { flareFile, requireFlareData } from "../../helpers/flare-data.js";

/** FLARE's files (test/helpers/flare-data.ts finds them; SOURCE.md says which commit). */
export const FLARE_DIR = flareFile();
export const TEMPLATES_DIR = join(FLARE_DIR, "job_templates");

/** A test's `skip` when FLARE's files are not there (with CI=true they must be: the test fails instead). */
export const flareSkip: string | false = (() => {
  const r = requireFlareData();
  return r.skip || (existsSync(TEMPLATES_DIR) ? false : `FLARE's job templates are not at ${TEMPLATES_DIR}`);
})();

/** Every .conf file of every template: [template, file name, path]. */
export function templateConfs(): [string, string, string][] {
  return readdirSync(TEMPLATES_DIR)
    .sort()
    .flatMap((t) =>
      readdirSync(join(TEMPLATES_DIR, t))
        .filter((f) => f.endsWith(".conf"))
        .sort()
        .map((f): [string, string, string] => [t, f, join(TEMPLATES_DIR, t, f)]),
    );
}

/** A FLARE template laid out as the job folder `nvflare job create` makes: meta at the root, configs in app/config/. */
export function jobFromTemplate(template: string, dir = join(tempDir("cohort-flare-job-"), template)): string {
  const src = join(TEMPLATES_DIR, template);
  mkdirSync(join(dir, "app", "config"), { recursive: true });
  for (const f of readdirSync(src)) {
    if (f.startsWith("meta.")) copyFileSync(join(src, f), join(dir, f));
    else if (f.startsWith("config_fed_")) copyFileSync(join(src, f), join(dir, "app", "config", f));
  }
  return dir;
}

/** A job folder from objects (written as JSON) or text (written as is); file names are relative to the job root. */
export function writeJob(files: Record<string, unknown>, dir = join(tempDir("cohort-job-"), "job")): string {
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, typeof content === "string" ? content : `${JSON.stringify(content, null, 2)}\n`);
  }
  return dir;
}

/** A small valid job: one app to the server and every site, built-in components only. */
export function basicJob(): Record<string, unknown> {
  return {
    "meta.json": { name: "basic", deploy_map: { app: ["@ALL"] }, min_clients: 1 },
    "app/config/config_fed_server.json": {
      format_version: 2,
      components: [{ id: "persistor", path: "cohort.ModelPersistor", args: {} }],
      workflows: [{ id: "sag", path: "cohort.ScatterAndGather", args: { num_rounds: 1 } }],
    },
    "app/config/config_fed_client.json": {
      format_version: 2,
      executors: [{ tasks: ["train", "validate"], executor: { path: "cohort.NoOpTrainer", args: {} } }],
    },
  };
}
