import { CohortError, type ErrorDetails } from "../../errors/index.js";

/** Stable codes of link-level errors (dial, send, close) and refusals (`ConnectionRefusal.code`). */
export const LinkErrorCode = {
  /** Dial: the server closed or reset the connection before accepting the link. */
  Refused: "ERR_LINK_REFUSED",
  /** Dial: the server's host name does not resolve here (DNS, /etc/hosts). */
  Dns: "ERR_LINK_DNS",
  /** Dial: no route to the server's address, or it does not answer at the network level. */
  Unreachable: "ERR_LINK_UNREACHABLE",
  /** Dial: no link within the timeout; listener: handshake not completed within handshakeTimeoutMs. */
  Timeout: "ERR_LINK_TIMEOUT",
  Aborted: "ERR_LINK_ABORTED",
  /** Dial: the server certificate does not chain to the trusted root (or custom CA). */
  UntrustedServer: "ERR_LINK_UNTRUSTED_SERVER",
  /** Dial: the server (or its proxy) does not offer TLS 1.3, which connectors require. */
  TlsVersion: "ERR_LINK_TLS_VERSION",
  /** Dial: the server certificate CN is not `expectedServerIdentity`. */
  ServerIdentity: "ERR_LINK_SERVER_IDENTITY",
  /** A frame above maxFrameBytes (sent: rejected locally; received: the connection is closed). */
  FrameTooLarge: "ERR_LINK_FRAME_TOO_LARGE",
  /** Before login: the bytes buffered for all unauthenticated connections reached the server-wide budget. */
  PreLoginBudget: "ERR_LINK_PRELOGIN_BUDGET",
  /** send() on a closed connection; or the connection was lost. */
  Closed: "ERR_LINK_CLOSED",
  /** Bad options (missing TLS material for the mode, bad limits). */
  Config: "ERR_LINK_CONFIG",
  /** The peer does not speak the link protocol (bad preface, unexpected bytes). */
  Protocol: "ERR_LINK_PROTOCOL",
  // Refusal codes (listener side; a refused dialer gets the same code when the driver can tell it).
  NoClientCert: "ERR_LINK_NO_CLIENT_CERT",
  UntrustedCert: "ERR_LINK_UNTRUSTED_CERT",
  CertExpired: "ERR_LINK_CERT_EXPIRED",
  CertNotYetValid: "ERR_LINK_CERT_NOT_YET_VALID",
  TooManyConnections: "ERR_LINK_TOO_MANY_CONNECTIONS",
  TlsHandshake: "ERR_LINK_TLS_HANDSHAKE",
  /** A plaintext (or otherwise non-TLS) client on a TLS listener, or a clear client meeting TLS. */
  NotTls: "ERR_LINK_NOT_TLS",
} as const;

export type LinkErrorCode = (typeof LinkErrorCode)[keyof typeof LinkErrorCode];

export function linkError(code: LinkErrorCode, message: string, details: ErrorDetails = {}, cause?: unknown): CohortError {
  return new CohortError(code, message, details, cause === undefined ? undefined : { cause });
}

/** Codes a listener may send back to a refused dialer (anything else becomes ERR_LINK_REFUSED). */
const REFUSAL_CODES: ReadonlySet<string> = new Set([
  LinkErrorCode.NoClientCert,
  LinkErrorCode.UntrustedCert,
  LinkErrorCode.CertExpired,
  LinkErrorCode.CertNotYetValid,
  LinkErrorCode.TooManyConnections,
  LinkErrorCode.PreLoginBudget,
  LinkErrorCode.Protocol,
  LinkErrorCode.Timeout,
]);

/**
 * The dial error for a refusal the server explained (`code`, `reason` come from the network: the
 * code is checked against the known set and the reason is cut to 500 printable characters).
 */
export function refusedByServer(code: unknown, reason: unknown, address: string): CohortError {
  const c = typeof code === "string" && REFUSAL_CODES.has(code) ? (code as LinkErrorCode) : LinkErrorCode.Refused;
  const r = typeof reason === "string" ? reason.replace(/[^\x20-\x7e]/g, "?").slice(0, 500) : "no reason given";
  return linkError(c, `the server at ${address} refused the link: ${r}`, { address, serverCode: typeof code === "string" ? code.slice(0, 64) : undefined });
}

/** System error codes of a failed name lookup and of an unreachable network. */
const DNS_CODES = ["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EAI_NONAME", "EAI_NODATA"];
const UNREACHABLE_CODES = ["EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN", "ETIMEDOUT", "EADDRNOTAVAIL"];

/**
 * The dial error for a failure below TLS, said as what failed (name lookup, nothing listening, no
 * route) and naming the host: `sysCode` is the socket's error code, or found in `text` (grpc-js
 * reports only text). Undefined when it is none of these (the caller keeps its own diagnosis).
 */
export function networkDialError(sysCode: string | undefined, text: string, host: string, address: string, cause?: unknown): CohortError | undefined {
  const found = (codes: readonly string[]): string | undefined => codes.find((c) => c === sysCode || text.includes(c));
  const dns = found(DNS_CODES) ?? (/Name resolution failed/i.test(text) ? "name resolution failed" : undefined);
  if (dns)
    return linkError(
      LinkErrorCode.Dns,
      `cannot resolve the server name ${JSON.stringify(host)} here (${dns}): check the host name in the kit (fed_client.json servers[0].service.target) and this machine's DNS or /etc/hosts`,
      { address, host },
      cause,
    );
  if (found(["ECONNREFUSED"]))
    return linkError(
      LinkErrorCode.Refused,
      `nothing accepts connections at ${address} (ECONNREFUSED): is the server running there, and is this its port?`,
      { address },
      cause,
    );
  const unreachable = found(UNREACHABLE_CODES);
  if (unreachable)
    return linkError(
      LinkErrorCode.Unreachable,
      `cannot reach ${address} (${unreachable}): no route to it or nothing answers; check the address, the network and firewalls between here and the server`,
      { address },
      cause,
    );
  return undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
