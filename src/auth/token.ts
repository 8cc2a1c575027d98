import { createPublicKey, type KeyObject } from "node:crypto";
import { z } from "zod";
import { CohortError } from "../errors/index.js";
import { signBytes, verifyBytes } from "../pki/index.js";
import { AuthErrorCode } from "./errors.js";

/**
 * Session tokens: `base64url(JSON claims) "." base64url(signature by the server key)`, the same
 * shape as FLARE's admin session token but bound to a session and with an expiry. The server
 * verifies a token's signature once per session and compares the string afterwards, so tokens cost
 * nothing per message.
 */
export interface TokenClaims {
  /** Participant name (cert CN). */
  readonly sub: string;
  /** `client` or `admin`. */
  readonly typ: "client" | "admin";
  /** Session id this token belongs to. */
  readonly sid: string;
  /** Issued at / expires at, seconds since the epoch. */
  readonly iat: number;
  readonly exp: number;
  /** Project the token is valid in. */
  readonly prj: string;
}

const claimsSchema = z.strictObject({
  sub: z.string().min(1).max(255),
  typ: z.enum(["client", "admin"]),
  sid: z.string().min(1).max(64),
  iat: z.number().int(),
  exp: z.number().int(),
  prj: z.string().max(255),
});

export const DEFAULT_TOKEN_LIFETIME_S = 3600;

export function issueToken(claims: TokenClaims, serverKey: KeyObject): string {
  const body = Buffer.from(JSON.stringify(claims), "utf8").toString("base64url");
  const sig = Buffer.from(signBytes(serverKey, Buffer.from(body, "ascii")), "base64").toString("base64url");
  return `${body}.${sig}`;
}

/**
 * Verifies a token's signature with the server's public key and its expiry at `nowS` (seconds),
 * allowing `skewS` of clock difference. Throws ERR_AUTH_TOKEN_INVALID / ERR_AUTH_TOKEN_EXPIRED.
 */
export function verifyToken(token: string, serverPublicKey: KeyObject | string, nowS: number, skewS = 60): TokenClaims {
  const key = typeof serverPublicKey === "string" ? createPublicKey(serverPublicKey) : serverPublicKey;
  const dot = token.indexOf(".");
  if (token.length > 4096 || dot <= 0 || dot !== token.lastIndexOf(".")) {
    throw new CohortError(AuthErrorCode.TokenInvalid, "session token is malformed", {});
  }
  const body = token.slice(0, dot);
  const sigBytes = Buffer.from(token.slice(dot + 1), "base64url");
  // Decoders skip stray characters: a token that does not re-encode to itself was altered.
  if (sigBytes.toString("base64url") !== token.slice(dot + 1) || Buffer.from(body, "base64url").toString("base64url") !== body) {
    throw new CohortError(AuthErrorCode.TokenInvalid, "session token is malformed (not canonical base64url)", {});
  }
  const sig = sigBytes.toString("base64");
  if (!verifyBytes(key, Buffer.from(body, "ascii"), sig)) {
    throw new CohortError(AuthErrorCode.TokenInvalid, "session token signature is not the server's (forged or altered token)", {});
  }
  let claims: TokenClaims;
  try {
    claims = claimsSchema.parse(JSON.parse(Buffer.from(body, "base64url").toString("utf8")));
  } catch {
    throw new CohortError(AuthErrorCode.TokenInvalid, "session token claims are malformed", {});
  }
  if (nowS > claims.exp + skewS) {
    throw new CohortError(AuthErrorCode.TokenExpired, `session token expired at ${new Date(claims.exp * 1000).toISOString()}; log in again`, {
      exp: claims.exp,
    });
  }
  if (claims.iat > nowS + skewS) {
    throw new CohortError(AuthErrorCode.TokenInvalid, "session token was issued in the future (clock skew beyond tolerance)", { iat: claims.iat });
  }
  return claims;
}
