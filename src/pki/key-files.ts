import { chmodSync, closeSync, fsyncSync, openSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";

/**
 * Writes a file atomically (temp file + rename) with the given mode; the mode is set at open
 * and again with chmod, so a permissive umask cannot widen it.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, options: { fsync?: boolean } = {}): void {
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  const fd = openSync(tmp, "wx", mode);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    // Node's permission model (job children) disables fsync; the rename still keeps the file whole.
    if (options.fsync !== false) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/**
 * Private keys are always mode 0600 (set at creation and again with chmod, whatever the umask).
 * Not fsynced: for files that must survive a crash use writeFileAtomic(path, pem, 0o600).
 */
export function writePrivateKeyFile(path: string, pem: string): void {
  writeFileSync(path, pem, { mode: 0o600 });
  chmodSync(path, 0o600);
}
