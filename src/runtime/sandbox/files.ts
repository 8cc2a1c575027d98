import { chmodSync, chownSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** Gives a folder tree to the job's uid (a resumed job's run folder may hold older files). Symlinks are not followed. */
export function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isSymbolicLink()) continue;
    if (e.isDirectory()) chownTree(join(dir, e.name), uid, gid);
    else chownSync(join(dir, e.name), uid, gid);
  }
}

/**
 * Makes a job's unpacked app readable by the job's uid: folders 0755, files 0644 (0755 when
 * executable). The tree sits in the site's workspace, whose folders others cannot enter; inside the
 * sandbox it is mounted read-only. A submitter's 0600 file would otherwise be unreadable to the job.
 */
export function grantReadTree(dir: string): void {
  chmodSync(dir, 0o755);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isSymbolicLink()) continue;
    if (e.isDirectory()) grantReadTree(p);
    else chmodSync(p, lstatSync(p).mode & 0o111 ? 0o755 : 0o644);
  }
}
