/**
 * The simulator's workspace: a folder the simulator owns (marked by `.cohort-simulator`), emptied
 * at the start of each run so results never mix. A non-empty folder without the mark is refused:
 * `-w` pointing at the wrong folder must never delete anyone's files.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { CohortError } from "../../errors/index.js";
import { SimulatorErrorCode } from "./errors.js";

export const SIMULATOR_MARK = ".cohort-simulator";

/** `~/.cohort/simulator/<job name>`: per user, outside any repository, one folder per job (the name made a safe folder name). */
export function defaultSimulatorWorkspace(jobName: string): string {
  return join(homedir(), ".cohort", "simulator", simulatorFolderName(jobName));
}

/**
 * A job name (any string FLARE allows) as one folder name: letters, digits, '.', '_' and '-' stay,
 * anything else becomes '_', a leading '.' too (no "..", no hidden folder), at most 64 characters;
 * a name that had to change gets 8 hex digits of its SHA-256, so two names never share a folder.
 */
export function simulatorFolderName(jobName: string): string {
  const safe = jobName
    .replace(/[^A-Za-z0-9._-]/g, "_")
    .replace(/^\./, "_")
    .slice(0, 64);
  if (safe === jobName && safe !== "") return safe;
  return `${safe || "job"}-${createHash("sha256").update(jobName).digest("hex").slice(0, 8)}`;
}

export interface SimulatorLayout {
  readonly root: string;
  readonly log: string;
  readonly summary: string;
  /** The job folder as deployed (packed and unpacked as a submission is). */
  readonly job: string;
  /** A participant's run folder (the server's holds models/). */
  runDir(participant: string): string;
}

export function simulatorLayout(root: string): SimulatorLayout {
  const abs = resolve(root);
  return {
    root: abs,
    log: join(abs, "log.txt"),
    summary: join(abs, "simulation.json"),
    job: join(abs, "job"),
    runDir: (participant) => join(abs, participant, "simulate_job"),
  };
}

/** Creates or empties the workspace (only one the simulator made before). */
export function prepareSimulatorWorkspace(root: string): SimulatorLayout {
  const layout = simulatorLayout(root);
  if (existsSync(layout.root)) {
    if (!statSync(layout.root).isDirectory())
      throw new CohortError(SimulatorErrorCode.Workspace, `-w ${layout.root}: is a file; give a folder (new, empty, or an earlier simulator workspace)`, {
        file: layout.root,
      });
    const entries = readdirSync(layout.root);
    if (entries.length > 0 && !entries.includes(SIMULATOR_MARK)) {
      throw new CohortError(
        SimulatorErrorCode.Workspace,
        `-w ${layout.root}: not empty and not a simulator workspace (no ${SIMULATOR_MARK}); give a new or empty folder, the simulator empties its workspace on every run`,
        { file: layout.root },
      );
    }
    for (const e of entries) rmSync(join(layout.root, e), { recursive: true, force: true });
  }
  mkdirSync(layout.root, { recursive: true, mode: 0o700 });
  writeFileSync(join(layout.root, SIMULATOR_MARK), "cohort simulator workspace: emptied at the start of every run\n");
  return layout;
}
