/**
 * A classic-BPF seccomp program for bubblewrap's `--seccomp FD`: job code may not create user
 * namespaces (unshare/clone with CLONE_NEWUSER fail with EPERM; clone3, whose flags sit in memory
 * a filter cannot read, fails with ENOSYS so glibc falls back to clone). A user namespace would give
 * job code "root" over fresh namespaces of its own: no escape by itself, but a large kernel surface
 * that confined code has no use for. Everything else is allowed: bubblewrap's namespaces and the
 * dropped capabilities are the boundary; this closes one door they leave open when the job runs as
 * an unprivileged uid in the initial user namespace.
 *
 * Layout (linux/filter.h, linux/seccomp.h): struct sock_filter { u16 code; u8 jt; u8 jf; u32 k }
 * in host byte order; struct seccomp_data { int nr; u32 arch; u64 ip; u64 args[6] }.
 */

const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JSET_K = 0x45;
const RET_K = 0x06;

const RET_KILL_PROCESS = 0x80000000;
const RET_ALLOW = 0x7fff0000;
const retErrno = (errno: number): number => 0x00050000 | errno;
const EPERM = 1;
const ENOSYS = 38;
const CLONE_NEWUSER = 0x10000000;
/** x32 system calls on x86_64 carry this bit: refused, so none slips past the numbers below. */
const X32_SYSCALL_BIT = 0x40000000;

const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
/** Low 32 bits of args[0] (little-endian hosts only: x86_64 and aarch64). */
const OFFSET_ARG0_LOW = 16;

interface ArchNumbers {
  readonly audit: number;
  readonly clone: number;
  readonly clone3: number;
  readonly unshare: number;
}

const ARCHES: Readonly<Record<string, ArchNumbers>> = {
  x64: { audit: 0xc000003e, clone: 56, clone3: 435, unshare: 272 },
  arm64: { audit: 0xc00000b7, clone: 220, clone3: 435, unshare: 97 },
};

/** The program for this machine's architecture; undefined where Cohort has no numbers for it. */
export function userNamespaceSeccompProgram(arch: string = process.arch): Buffer | undefined {
  const a = ARCHES[arch];
  if (!a) return undefined;
  const program: [number, number, number, number][] = [
    [LD_W_ABS, 0, 0, OFFSET_ARCH],
    [JEQ_K, 1, 0, a.audit], // 1: another ABI (e.g. i386 on x86_64) would have other numbers
    [RET_K, 0, 0, RET_KILL_PROCESS],
    [LD_W_ABS, 0, 0, OFFSET_NR], // 3
    [JSET_K, 0, 1, X32_SYSCALL_BIT],
    [RET_K, 0, 0, retErrno(EPERM)], // 5
    [JEQ_K, 0, 1, a.clone3],
    [RET_K, 0, 0, retErrno(ENOSYS)], // 7
    [JEQ_K, 2, 0, a.unshare], // 8 → 11
    [JEQ_K, 1, 0, a.clone], // 9 → 11
    [RET_K, 0, 0, RET_ALLOW], // 10
    [LD_W_ABS, 0, 0, OFFSET_ARG0_LOW], // 11
    [JSET_K, 0, 1, CLONE_NEWUSER],
    [RET_K, 0, 0, retErrno(EPERM)], // 13
    [RET_K, 0, 0, RET_ALLOW], // 14
  ];
  const out = Buffer.alloc(program.length * 8);
  program.forEach(([code, jt, jf, k], i) => {
    out.writeUInt16LE(code, i * 8);
    out.writeUInt8(jt, i * 8 + 2);
    out.writeUInt8(jf, i * 8 + 3);
    out.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return out;
}
