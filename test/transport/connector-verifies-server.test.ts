/**
 * Connectors verify the server before sending a certificate of their own (issue 15): a real site
 * (`cohort start`, mtls) facing an impostor (a raw node:tls server with a certificate from another
 * CA, CN `localhost` like the real server) that offers only TLS 1.2 sends no client certificate,
 * refuses it, and writes an audit line. Before, the site connected with checks off under TLS 1.2
 * and its certificate went out before it checked anything.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { createServer, type TLSSocket } from "node:tls";
import { createRootCertificate, generateKeyPair, issueCertificate, loadIssuer } from "../../src/pki/index.js";
import { auditRecords, provisionProject, startParticipantProcess, type CohortProcess } from "../helpers/processes.js";
import { until } from "../helpers/transport-links.js";

const running: CohortProcess[] = [];
after(async () => {
  for (const p of running.reverse()) await p.stop();
});

/** The site's audit records so far (none before its audit.log exists). */
function audited(kit: string): Record<string, unknown>[] {
  try {
    return auditRecords(kit);
  } catch {
    return [];
  }
}

async function impostorCredentials(): Promise<{ cert: string; key: string }> {
  const caKeys = await generateKeyPair();
  const caPem = await createRootCertificate({
    commonName: "Impostor CA",
    validDays: 30,
    privateKeyPem: caKeys.privateKeyPem,
    publicKeySpki: caKeys.publicKeySpki,
  });
  const keys = await generateKeyPair();
  const cert = await issueCertificate({
    subject: { commonName: "localhost", organization: "nvidia" },
    subjectPublicKeySpki: keys.publicKeySpki,
    subjectAltNames: ["localhost", "127.0.0.1"],
    extendedKeyUsages: ["serverAuth"],
    validDays: 30,
    issuer: await loadIssuer(caPem, caKeys.privateKeyPem),
  });
  return { cert, key: keys.privateKeyPem };
}

interface Impostor {
  /** Handshakes seen (completed or failed). */
  attempts: number;
  /** Client certificates received (subject CNs). */
  readonly certificates: string[];
  close(): Promise<void>;
}

async function startImpostor(port: number, maxVersion: "TLSv1.2" | "TLSv1.3", alpn: string[]): Promise<Impostor> {
  const { cert, key } = await impostorCredentials();
  const seen: Impostor = { attempts: 0, certificates: [], close: async () => undefined };
  const server = createServer({ cert, key, maxVersion, minVersion: "TLSv1.2", requestCert: true, rejectUnauthorized: false, ALPNProtocols: alpn });
  const record = (socket: TLSSocket): void => {
    const peer = socket.getPeerCertificate();
    if (peer && typeof peer.subject?.CN === "string") seen.certificates.push(peer.subject.CN);
  };
  server.on("secureConnection", (socket: TLSSocket) => {
    seen.attempts++;
    record(socket);
    socket.on("error", () => undefined);
    socket.on("data", () => undefined);
  });
  server.on("tlsClientError", (_err, socket: TLSSocket) => {
    seen.attempts++;
    try {
      record(socket);
    } catch {
      // destroyed socket: nothing to read
    }
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  seen.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return seen;
}

describe("a site facing an impostor server", () => {
  for (const scheme of ["tcp", "http", "grpc"]) {
    test(`${scheme}: an impostor offering only TLS 1.2 gets no client certificate; the site refuses it with an audit line`, { timeout: 120_000 }, async () => {
      const { prodDir, port } = await provisionProject(scheme, "mtls", { name: `impostor_${scheme}` });
      const impostor = await startImpostor(port, "TLSv1.2", scheme === "grpc" ? ["h2"] : []);
      try {
        const kit = join(prodDir, "site-1");
        const site = startParticipantProcess(kit);
        running.push(site);
        await site.waitFor(/connecting to 127\.0\.0\.1:\d+ failed/, 60_000);
        await until(() => impostor.attempts >= 1, 20_000, "the impostor sees the site's handshake");
        await until(() => audited(kit).some((r) => r["action"] === "server.refused"), 20_000, "a server.refused audit line");
        const line = audited(kit).find((r) => r["action"] === "server.refused");
        console.log(
          `${scheme}: impostor saw ${impostor.attempts} handshake(s), client certificates ${JSON.stringify(impostor.certificates)}; audit ${JSON.stringify(line)}`,
        );
        assert.deepEqual(impostor.certificates, [], "the site sent its certificate to an impostor");
        assert.equal(line?.["code"], "ERR_LINK_TLS_VERSION");
        assert.match(String(line?.["reason"]), /TLS 1\.3/);
        assert.equal(site.output.includes("logged in"), false);
        await site.stop();
      } finally {
        await impostor.close();
      }
    });
  }

  test("tcp: an impostor offering TLS 1.3 with a foreign certificate is refused as untrusted, with an audit line", { timeout: 120_000 }, async () => {
    const { prodDir, port } = await provisionProject("tcp", "mtls", { name: "impostor13" });
    const impostor = await startImpostor(port, "TLSv1.3", []);
    try {
      const kit = join(prodDir, "site-1");
      const site = startParticipantProcess(kit);
      running.push(site);
      await until(() => audited(kit).some((r) => r["action"] === "server.refused"), 60_000, "a server.refused audit line");
      const line = audited(kit).find((r) => r["action"] === "server.refused");
      // Node checks the chain as the TLS 1.3 handshake ends, after the client's flight: the
      // impostor may see the (public) certificate, but the link never starts.
      console.log(`tcp/TLS 1.3 impostor: client certificates seen ${JSON.stringify(impostor.certificates)}; audit ${JSON.stringify(line)}`);
      assert.equal(line?.["code"], "ERR_LINK_UNTRUSTED_SERVER");
      assert.match(String(line?.["reason"]), /not issued by the trusted root/);
      await site.stop();
    } finally {
      await impostor.close();
    }
  });
});
