/**
 * Where the job's app (and its custom/ code) is, seen from a component in the job child. The job
 * context names only the run folder; sites and the server unpack the job folder next to it
 * (`<job>/app/` beside `<job>/workspace/`), and the app a participant runs is the deploy_map's.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CohortError } from "../../errors/index.js";
import { appForSite, jobMetaFile, loadJobFolder } from "../jobs/definition.js";
import type { JobContextBase } from "../components/registry.js";
import { ClientApiErrorCode } from "./errors.js";

export function appDirOf(ctx: JobContextBase): string {
  // A context that names its app folder (the job host's init.appDir) is used as is.
  const named = (ctx as { appDir?: unknown }).appDir;
  if (typeof named === "string") return named;
  // Sites and the server: <job>/app beside <job>/workspace; the simulator: <root>/job beside <root>/<site>/simulate_job.
  const candidates = [resolve(ctx.runDir, "..", "app"), resolve(ctx.runDir, "..", "..", "job")];
  const jobRoot = candidates.find((c) => jobMetaFile(c) !== undefined);
  if (!jobRoot)
    throw new CohortError(
      ClientApiErrorCode.Config,
      `cannot find the job folder of job ${ctx.jobId} next to its run folder ${ctx.runDir} (looked in ${candidates.join(", ")})`,
      { runDir: ctx.runDir },
    );
  let app: string | undefined;
  try {
    app = appForSite(loadJobFolder(jobRoot).meta, ctx.site);
  } catch (err) {
    throw new CohortError(
      ClientApiErrorCode.Config,
      `cannot read the job folder of job ${ctx.jobId} at ${jobRoot}: ${(err as Error).message}`,
      { dir: jobRoot },
      { cause: err },
    );
  }
  if (!app) throw new CohortError(ClientApiErrorCode.Config, `the deploy_map of job ${ctx.jobId} names no app for ${ctx.site}`, { site: ctx.site });
  return join(jobRoot, app);
}

export function customDirOf(ctx: JobContextBase): string {
  const dir = join(appDirOf(ctx), "custom");
  if (!existsSync(dir))
    throw new CohortError(
      ClientApiErrorCode.Config,
      `job ${ctx.jobName}: the app has no custom/ folder (${dir}); the training code must be shipped in the app's custom/ folder`,
      { dir },
    );
  return dir;
}

/**
 * The repository's python/ folder (the cohort_flare module), found from this code's location:
 * src/…, dist/… or the bundled job child under node_modules/.cache/… all sit below the root.
 * Not checked for existence: the job child may not read it; the training process may.
 */
export function cohortPythonDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const base = dir.split(/[\\/]/).pop();
    if (base === "node_modules" || base === "dist" || base === "src") return join(dirname(dir), "python");
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return join(process.cwd(), "python");
}
