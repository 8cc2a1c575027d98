import type { Interface } from "node:readline";
import { CohortError } from "../errors/index.js";
import { AdminErrorCode } from "../runtime/admin/index.js";

/**
 * FLARE's confirmations (nvflare/fuel/hci/client/cli.py): "Are you sure (y/N): " for abort_job,
 * "Confirm with User Name: " for shutdown, restart, remove_client, delete_job and delete_workspace.
 */
export async function askConfirmation(rl: Interface, kind: "yes_no" | "user_name", user: string): Promise<boolean> {
  if (kind === "yes_no") {
    const answer = (await new Promise<string>((res) => rl.question("Are you sure (y/N): ", res))).trim().toLowerCase();
    return answer === "y" || answer === "yes";
  }
  const answer = (await new Promise<string>((res) => rl.question("Confirm with User Name: ", res))).trim();
  if (answer !== user) process.stdout.write("user name mismatch\n");
  return answer === user;
}

/** `-c` without `--yes` for a command that asks first: refused before anything is sent. */
export function confirmationRefusal(cmd: string): CohortError {
  return new CohortError(
    AdminErrorCode.Unconfirmed,
    `${cmd} asks for confirmation, and -c cannot ask: run it again with --yes (cohort admin <kit> --yes -c "${cmd} …"); nothing was sent`,
    { cmd },
  );
}
