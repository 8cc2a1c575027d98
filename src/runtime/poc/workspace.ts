/**
 * A POC workspace: the provisioned project (kits under prod_00/), `poc.json` describing it (which
 * also marks the folder as a POC workspace, so only such folders are ever replaced or removed) and
 * `pids.json`, the processes `poc start` launched.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { writeFileAtomic } from "../../pki/index.js";
import { PocErrorCode } from "./errors.js";
import { readJsonFile } from "../../config/index.js";

/** `-w`, else `$COHORT_POC_WORKSPACE`, else `~/.cohort/poc` (per user: the kits hold private keys). */
export function defaultPocWorkspace(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env["COHORT_POC_WORKSPACE"] || join(homedir(), ".cohort", "poc"));
}

export const POC_FILE = "poc.json";
export const PIDS_FILE = "pids.json";

const pocSchema = z.object({
  format: z.literal(1),
  project: z.string(),
  host: z.string(),
  port: z.number().int().min(1).max(65535),
  /** Kit folders relative to the workspace. */
  server: z.object({ name: z.string(), kit: z.string() }),
  sites: z.array(z.object({ name: z.string(), kit: z.string() })).min(1),
  admin: z.object({ name: z.string(), kit: z.string() }),
});
export type PocDescription = z.infer<typeof pocSchema>;

const pidsSchema = z.object({
  processes: z.array(z.object({ name: z.string(), pid: z.number().int().positive(), kit: z.string(), started: z.string() })),
});
export type PocProcessRecord = z.infer<typeof pidsSchema>["processes"][number];

export function isPocWorkspace(dir: string): boolean {
  return existsSync(join(dir, POC_FILE));
}

/** The POC a workspace holds; refuses folders `poc prepare` did not make. */
export function readPoc(dir: string): PocDescription {
  const file = join(dir, POC_FILE);
  if (!existsSync(file))
    throw new CohortError(
      PocErrorCode.NotPrepared,
      `${dir} is not a prepared POC workspace (no ${POC_FILE}); run 'cohort poc prepare -n <sites> -w ${dir}' first`,
      { file },
    );
  return readJsonFile(file, pocSchema, { code: PocErrorCode.Workspace, fix: `run 'cohort poc prepare' again` });
}

export function writePoc(dir: string, poc: PocDescription): void {
  writeFileAtomic(join(dir, POC_FILE), `${JSON.stringify(poc, null, 2)}\n`, 0o644);
}

export function readPids(dir: string): PocProcessRecord[] {
  const file = join(dir, PIDS_FILE);
  if (!existsSync(file)) return [];
  return readJsonFile(file, pidsSchema, { code: PocErrorCode.Workspace, fix: `stop the processes it listed by hand and delete it` }).processes;
}

export function writePids(dir: string, processes: readonly PocProcessRecord[]): void {
  writeFileAtomic(join(dir, PIDS_FILE), `${JSON.stringify({ processes }, null, 2)}\n`, 0o644);
}
