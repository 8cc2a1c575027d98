import { randomBytes, X509Certificate } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { CohortError, isCohortError } from "../errors/index.js";
import { signBytes, verifyBytes, verifyCertificateChain, readCertificateInfo } from "../pki/index.js";
import { AuthErrorCode } from "./errors.js";
import { transcript } from "./transcript.js";

/**
 * End-to-end signed admin commands (beyond FLARE, whose sites trust identity headers forwarded by
 * the server): the console signs each command with the admin's kit key; every site checks the
 * signature and the admin's certificate itself, so a compromised server cannot act as an admin at
 * a site, and a replayed or altered command is refused.
 */
export const signedCommandSchema = z.strictObject({
  user: z.string().min(1).max(255),
  /** "server", a site name, or "@ALL" as the admin typed it. */
  target: z.string().min(1).max(255),
  cmd: z.string().min(1).max(64),
  args: z.array(z.string().max(4096)).max(16),
  nonce: z.string().regex(/^[0-9a-f]{32}$/),
  /** Milliseconds since the epoch, at the console. */
  time: z.number().int().positive(),
  /** A token from the admin's identity provider, for sites that require one (OIDC plugin). */
  oidc: z
    .string()
    .max(16 * 1024)
    .optional(),
  cert: z
    .string()
    .min(1)
    .max(16 * 1024),
  sig: z.string().min(1).max(2048),
});
export type SignedCommand = z.infer<typeof signedCommandSchema>;

function commandTranscript(c: Omit<SignedCommand, "cert" | "sig">): Buffer {
  return transcript("cohort-admin-command-v1", [c.user, c.target, c.cmd, JSON.stringify(c.args), c.nonce, String(c.time), c.oidc ?? ""]);
}

export function signCommand(o: {
  user: string;
  target: string;
  cmd: string;
  args: readonly string[];
  certPem: string;
  keyPem: string;
  now?: number;
  oidc?: string;
}): SignedCommand {
  const unsigned = {
    user: o.user,
    target: o.target,
    cmd: o.cmd,
    args: [...o.args],
    nonce: randomBytes(16).toString("hex"),
    time: o.now ?? Date.now(),
    ...(o.oidc ? { oidc: o.oidc } : {}),
  };
  return { ...unsigned, cert: o.certPem, sig: signBytes(o.keyPem, commandTranscript(unsigned)) };
}

/**
 * Remembers nonces for the freshness window, so each signed command is executed once. With a
 * `file`, accepted nonces are also appended there (0600) and reloaded at start: a command captured
 * before a restart cannot be replayed to the restarted process within its window.
 */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  private appended = 0;

  constructor(
    private readonly windowMs: number,
    private readonly file?: string,
  ) {
    if (!file) return;
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    if (!existsSync(file)) return;
    const now = Date.now();
    // A damaged line (a crash mid-append) is skipped: the rest still protects.
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const e = nonceLine.safeParse(
        (() => {
          try {
            return JSON.parse(line) as unknown;
          } catch {
            return undefined;
          }
        })(),
      );
      if (e.success && now - e.data.t <= 2 * windowMs) this.seen.set(e.data.n, e.data.t);
    }
    this.compact();
  }

  /** False when the nonce was seen within the window. */
  remember(nonce: string, now: number): boolean {
    for (const [n, t] of this.seen) if (now - t > 2 * this.windowMs) this.seen.delete(n);
    if (this.seen.has(nonce)) return false;
    if (this.seen.size > 100_000) this.seen.clear();
    this.seen.set(nonce, now);
    if (this.file) {
      appendFileSync(this.file, `${JSON.stringify({ n: nonce, t: now })}\n`, { mode: 0o600 });
      if (++this.appended > 10_000) this.compact();
    }
    return true;
  }

  /** Rewrites the file with the live nonces only. */
  private compact(): void {
    if (!this.file) return;
    writeFileSync(this.file, [...this.seen].map(([n, t]) => `${JSON.stringify({ n, t })}\n`).join(""), { mode: 0o600 });
    this.appended = 0;
  }
}

const nonceLine = z.object({ n: z.string().max(200), t: z.number() });

export interface CommandIssuer {
  readonly name: string;
  readonly org: string;
  readonly role: string;
}

/**
 * Verifies a signed command at a site: admin certificate chaining to the root with CN = user and a
 * role, the signature over every field, the time within `skewMs`, and a nonce not seen before.
 */
export function verifyCommand(
  raw: unknown,
  o: { rootPem: string; nonces: NonceCache; skewMs: number; now?: number },
): { command: SignedCommand; issuer: CommandIssuer } {
  const parsed = signedCommandSchema.safeParse(raw);
  if (!parsed.success) throw new CohortError(AuthErrorCode.Malformed, "the admin command is not a signed command", {});
  const c = parsed.data;
  const now = o.now ?? Date.now();
  try {
    verifyCertificateChain(c.cert, o.rootPem, { label: `${c.user}'s certificate` });
  } catch (err) {
    throw new CohortError(
      AuthErrorCode.CertUntrusted,
      `the command's signer is not trusted here: ${(err as Error).message}`,
      isCohortError(err) ? err.details : {},
      { cause: err },
    );
  }
  const info = readCertificateInfo(c.cert);
  if (info.commonName !== c.user) throw new CohortError(AuthErrorCode.NameMismatch, `the command names user ${c.user} but is signed by ${info.commonName}`, {});
  if (!info.role) throw new CohortError(AuthErrorCode.WrongType, `the command is signed by ${info.commonName}, which is not an admin certificate`, {});
  if (!verifyBytes(new X509Certificate(c.cert).publicKey, commandTranscript(c), c.sig)) {
    throw new CohortError(AuthErrorCode.BadSignature, `the signature of ${c.user}'s command does not verify: it was altered on its way`, { cmd: c.cmd });
  }
  if (Math.abs(now - c.time) > o.skewMs)
    throw new CohortError(
      AuthErrorCode.Stale,
      `the command was signed at ${new Date(c.time).toISOString()}, more than ${o.skewMs / 1000} s from this site's clock`,
      {},
    );
  if (!o.nonces.remember(c.nonce, now))
    throw new CohortError(AuthErrorCode.Replay, `this command (nonce ${c.nonce.slice(0, 8)}…) was already executed here: replay refused`, {});
  return { command: c, issuer: { name: info.commonName, org: info.organization ?? "", role: info.role } };
}

/** Targets that address every site: `@ALL`, `client` (`check_status client`), or none typed. */
const EVERY_SITE = new Set(["@ALL", "client", "all"]);

/** The sites a command addresses when the caller has no grammar of its own: its first argument. */
function firstArgument(_cmd: string, args: readonly string[]): readonly string[] | "every" {
  const target = args[0];
  return target === undefined || EVERY_SITE.has(target) ? "every" : [target];
}

/**
 * A site runs a verified command only when the admin addressed it there: the signature covers the
 * targets (the arguments), but the server routes the command, and could hand a command the admin
 * meant for one site to another (where the same admin may hold the same rights). `addressed`
 * reads the targets with the console's grammar (`client site-1 site-2` names two sites); it may
 * throw on arguments it cannot parse, which refuses the command too.
 */
export function assertAddressedTo(
  c: SignedCommand,
  site: string,
  addressed: (cmd: string, args: readonly string[]) => readonly string[] | "every" = firstArgument,
): void {
  const sites = addressed(c.cmd, c.args);
  if (sites === "every" || sites.includes(site)) return;
  const target = sites.join(" ");
  throw new CohortError(
    AuthErrorCode.WrongTarget,
    `${site} refuses ${c.user}'s ${c.cmd}: the admin addressed it to ${target}, and a command redirected by the server is not run`,
    { target, site },
  );
}
