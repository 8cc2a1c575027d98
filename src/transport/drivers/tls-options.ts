/**
 * TLS settings per FLARE connection-security mode (flare-digest §2.2) and the certificate checks
 * that replace host-name verification: chain to the trusted root, then CN === expected identity.
 */
import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import type { ConnectionOptions, TLSSocket, TlsOptions } from "node:tls";
import type { CohortError } from "../../errors/index.js";
import type { ConnectionSecurity, TlsMaterial } from "../driver.js";
import { LinkErrorCode, linkError } from "./errors.js";

export const MIN_TLS_VERSION = "TLSv1.2" as const;
/**
 * Connectors (sites, admin consoles) require TLS 1.3: there the client's certificate is sent only
 * after the server's certificate and its proof of the key (CertificateVerify, Finished); under TLS
 * 1.2 a client certificate may go out before the server has proved anything. A server (or proxy)
 * that offers only TLS 1.2 fails the handshake before any certificate of ours is sent.
 */
export const CONNECTOR_MIN_TLS_VERSION = "TLSv1.3" as const;

function require(material: TlsMaterial | undefined, field: keyof TlsMaterial, role: string, security: ConnectionSecurity): string {
  const value = material?.[field];
  if (typeof value !== "string" || value.length === 0) {
    throw linkError(LinkErrorCode.Config, `a ${security} ${role} needs tls.${field}`, { security, role, field });
  }
  return value;
}

/**
 * Listener options: present the server certificate; on mtls require a client certificate issued
 * by the root, in the handshake (`requestCert` + `rejectUnauthorized`): a client without one gets
 * a TLS alert (certificate_required, or handshake_failure under TLS 1.2); one whose certificate does
 * not verify is dropped by Node's TLS layer as the handshake ends, before any byte of the link.
 * The acceptor names the reason from the TLS error event ({@link handshakeRefusal}).
 */
export function listenerTlsOptions(security: ConnectionSecurity, material: TlsMaterial | undefined): TlsOptions | undefined {
  if (security === "clear") return undefined;
  const options: TlsOptions = {
    key: require(material, "keyPem", "listener", security),
    cert: require(material, "certPem", "listener", security),
    minVersion: MIN_TLS_VERSION,
    requestCert: security === "mtls",
    rejectUnauthorized: security === "mtls",
  };
  if (security === "mtls") options.ca = require(material, "rootCaPem", "listener", security);
  return options;
}

/** What a connector verifies the server against: customCaPem on tls when given, else rootCaPem. */
export function trustedServerCa(security: ConnectionSecurity, material: TlsMaterial | undefined): string {
  if (security === "tls" && material?.customCaPem) return material.customCaPem;
  return require(material, "rootCaPem", "connector", security);
}

/**
 * Connector options (node:tls): own certificate on mtls, the trusted CA, TLS 1.3 only, and the
 * server checked in the handshake: the chain by Node (`rejectUnauthorized`), the CN instead of the
 * host name by `checkServerIdentity` (FLARE: IP literals and proxies must work). A failure destroys
 * the socket before a byte of the link is sent; {@link checkServerCertificate} checks again after.
 */
export function connectorTlsOptions(
  security: ConnectionSecurity,
  material: TlsMaterial | undefined,
  host: string,
  expectedIdentity?: string,
): ConnectionOptions | undefined {
  if (security === "clear") return undefined;
  const address = host;
  const options: ConnectionOptions = {
    ca: trustedServerCa(security, material),
    minVersion: CONNECTOR_MIN_TLS_VERSION,
    rejectUnauthorized: true,
    checkServerIdentity: (_host, cert) => {
      if (expectedIdentity === undefined) return undefined;
      const cn = typeof cert.subject?.CN === "string" ? cert.subject.CN : undefined;
      return cn === expectedIdentity ? undefined : serverIdentityError(cn, expectedIdentity, address);
    },
  };
  if (isIP(host) === 0) options.servername = host;
  if (security === "mtls") {
    options.cert = require(material, "certPem", "connector", security);
    options.key = require(material, "keyPem", "connector", security);
  }
  return options;
}

/** The subject CN of a certificate (first one), or undefined. */
export function commonNameOf(cert: X509Certificate): string | undefined {
  for (const line of cert.subject.split("\n")) {
    if (line.startsWith("CN=")) return line.slice(3);
  }
  return undefined;
}

function describe(cert: X509Certificate): string {
  return `'${commonNameOf(cert) ?? cert.subject.replace(/\n/g, ", ")}' (issuer '${cert.issuer.replace(/\n/g, ", ")}', sha256 fingerprint ${cert.fingerprint256})`;
}

function anchorDescription(trustPem: string): string {
  try {
    const root = new X509Certificate(trustPem);
    return `'${root.subject.replace(/\n/g, ", ")}' (sha256 fingerprint ${root.fingerprint256})`;
  } catch {
    return "(unparsable trusted CA)";
  }
}

export interface Refusal {
  readonly code: LinkErrorCode;
  readonly reason: string;
}

/**
 * Dial side: the typed error for a server that failed Node's certificate check in the handshake
 * (`err.code` is an OpenSSL verification code), or undefined for other errors.
 */
export function serverVerificationError(err: unknown, cert: X509Certificate | undefined, trustPem: string, address: string): CohortError | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== "string") return undefined;
  if (code === LinkErrorCode.ServerIdentity) return err as CohortError;
  if (
    !/^(UNABLE_TO_|CERT_|SELF_SIGNED|DEPTH_ZERO|INVALID_CA|PATH_LENGTH|INVALID_PURPOSE|CERT_UNTRUSTED|CERT_REJECTED|HOSTNAME_MISMATCH|ERR_TLS_CERT_ALTNAME)/.test(
      code,
    )
  )
    return undefined;
  const anchor = anchorDescription(trustPem);
  const reason = cert
    ? verificationRefusal(code, cert, "server", anchor).reason.replace(/^server/, "the server")
    : code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID"
      ? `the server's certificate is outside its validity period (${code})`
      : `the server's certificate was not issued by the trusted root ${anchor} (${code})`;
  return linkError(LinkErrorCode.UntrustedServer, `${reason} (at ${address}); refused in the TLS handshake`, {
    address,
    verifyError: code,
    ...(cert ? { fingerprint: cert.fingerprint256 } : {}),
  });
}

/** Maps an OpenSSL verification code to why a certificate is refused. */
function verificationRefusal(authorizationError: string, cert: X509Certificate, whose: string, anchor: string): Refusal {
  switch (authorizationError) {
    case "CERT_HAS_EXPIRED":
      return { code: LinkErrorCode.CertExpired, reason: `${whose} certificate ${describe(cert)} expired on ${cert.validTo}` };
    case "CERT_NOT_YET_VALID":
      return { code: LinkErrorCode.CertNotYetValid, reason: `${whose} certificate ${describe(cert)} is not valid before ${cert.validFrom}` };
    default:
      return {
        code: LinkErrorCode.UntrustedCert,
        reason: `${whose} certificate ${describe(cert)} was not issued by the trusted root ${anchor} (${authorizationError})`,
      };
  }
}

/**
 * Listener side, mtls (`cert`: the socket's getPeerX509Certificate(), which Node returns only once):
 * the refusal for this client, or undefined when its certificate verified. */
export function checkClientCertificate(socket: TLSSocket, cert: X509Certificate | undefined, rootCaPem: string): Refusal | undefined {
  if (cert === undefined) {
    return { code: LinkErrorCode.NoClientCert, reason: "the client presented no certificate (mtls requires one issued by the project root)" };
  }
  if (socket.authorized) return undefined;
  return verificationRefusal(String(socket.authorizationError ?? "UNKNOWN"), cert, "the client", anchorDescription(rootCaPem));
}

/**
 * Listener side, mtls: the refusal for a client the TLS layer turned away (`tlsClientError`), from
 * OpenSSL's error code and the socket's verification result; undefined when it is not about the
 * client certificate.
 */
export function handshakeRefusal(errorCode: string, authorizationError: string | undefined, rootCaPem: string): Refusal | undefined {
  if (errorCode === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE") {
    return {
      code: LinkErrorCode.NoClientCert,
      reason: "the client presented no certificate (mtls requires one issued by the project root); refused in the TLS handshake",
    };
  }
  if (authorizationError === undefined || authorizationError === "") return undefined;
  switch (authorizationError) {
    case "CERT_HAS_EXPIRED":
      return { code: LinkErrorCode.CertExpired, reason: "the client certificate has expired; refused in the TLS handshake" };
    case "CERT_NOT_YET_VALID":
      return { code: LinkErrorCode.CertNotYetValid, reason: "the client certificate is not valid yet; refused in the TLS handshake" };
    default:
      return {
        code: LinkErrorCode.UntrustedCert,
        reason: `the client certificate was not issued by the trusted root ${anchorDescription(rootCaPem)} (${authorizationError}); refused in the TLS handshake`,
      };
  }
}

/** Dial side: what a TLS alert from the listener means (OpenSSL codes of the alerts mtls sends). */
export function alertRefusal(errorCode: string | undefined, address: string): CohortError | undefined {
  if (errorCode === "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION" || errorCode === "ERR_SSL_UNSUPPORTED_PROTOCOL" || errorCode === "ERR_SSL_WRONG_SSL_VERSION") {
    return linkError(
      LinkErrorCode.TlsVersion,
      `the server at ${address} does not offer TLS 1.3 (${errorCode}); sites and consoles require it so that the server proves its certificate before they send theirs: enable TLS 1.3 on the server or its proxy (nginx: ssl_protocols TLSv1.3)`,
      { address, tlsError: errorCode },
    );
  }
  if (errorCode === "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED" || errorCode === "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE") {
    return linkError(
      LinkErrorCode.NoClientCert,
      `the server at ${address} requires a client certificate (mtls) and refused the TLS handshake: connect with connection_security mtls and the kit's client.crt`,
      { address, tlsError: errorCode },
    );
  }
  if (errorCode !== undefined && /^ERR_SSL_.*ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|DECRYPT_ERROR)$/.test(errorCode)) {
    return linkError(
      LinkErrorCode.UntrustedCert,
      `the server at ${address} refused this client's certificate in the TLS handshake (${errorCode}): use the certificate of a kit of this project`,
      {
        address,
        tlsError: errorCode,
      },
    );
  }
  return undefined;
}

/** The dial error when a server certificate's CN is not the expected identity. */
export function serverIdentityError(actual: string | undefined, expected: string, address: string): CohortError {
  return linkError(LinkErrorCode.ServerIdentity, `server certificate CN is '${actual ?? "(none)"}', expected '${expected}' (at ${address})`, {
    address,
    actual,
    expected,
  });
}

/**
 * Connector side: the server certificate must chain to `trustPem` and, when `expectedIdentity` is
 * set, carry it as CN. Returns the dial error, or undefined when the server is trusted.
 */
export function checkServerCertificate(
  socket: TLSSocket,
  cert: X509Certificate | undefined,
  trustPem: string,
  expectedIdentity: string | undefined,
  address: string,
): CohortError | undefined {
  if (cert === undefined) {
    return linkError(LinkErrorCode.UntrustedServer, `the server at ${address} presented no certificate`, { address });
  }
  if (!socket.authorized) {
    const code = String(socket.authorizationError ?? "UNKNOWN");
    const refusal = verificationRefusal(code, cert, "server", anchorDescription(trustPem));
    return linkError(LinkErrorCode.UntrustedServer, `${refusal.reason.replace(/^server/, "the server")} (at ${address})`, {
      address,
      verifyError: code,
      fingerprint: cert.fingerprint256,
    });
  }
  if (expectedIdentity !== undefined) {
    const cn = commonNameOf(cert);
    if (cn !== expectedIdentity) return serverIdentityError(cn, expectedIdentity, address);
  }
  return undefined;
}

/** host:port, with brackets around IPv6 literals. */
export function formatAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
