import { closeSync, readdirSync, readFileSync } from "node:fs";

const O_CLOEXEC = 0o2000000;

/**
 * Closes descriptors this process inherited without close-on-exec (beyond stdin, stdout and
 * stderr): spawned processes would inherit them in turn, and neither bubblewrap nor the kernel
 * closes them, so a descriptor open in whatever started the site would reach job code. Node's own
 * descriptors are all close-on-exec; `keep` names others to leave open (an IPC channel).
 */
export function closeInheritedDescriptors(keep: readonly number[] = []): number[] {
  const closed: number[] = [];
  let fds: string[];
  try {
    fds = readdirSync("/proc/self/fd");
  } catch {
    return closed; // no /proc: nothing to learn, nothing closed
  }
  for (const name of fds) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd <= 2 || keep.includes(fd)) continue;
    let flags: number;
    try {
      const m = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"));
      if (!m?.[1]) continue;
      flags = parseInt(m[1], 8);
    } catch {
      continue; // the directory listing's own descriptor, already gone
    }
    if ((flags & O_CLOEXEC) !== 0) continue;
    try {
      closeSync(fd);
      closed.push(fd);
    } catch {
      // closed meanwhile
    }
  }
  return closed;
}
