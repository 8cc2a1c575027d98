/**
 * Real certificates for link tests, made with Cohort's own provisioning: one project (server
 * `localhost` with host_names 127.0.0.1 and ::1, a client, an admin), a second project as a
 * foreign CA, and an expired client certificate issued by the first root. Call once per file.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { provision } from "../../src/provision/index.js";
import { generateKeyPair, issueCertificate, loadIssuer } from "../../src/pki/index.js";
import type { TlsMaterial } from "../../src/transport/driver.js";
import { DEFAULT_BUILDERS_YAML, tempDir, writeFile } from "./index.js";

export interface LinkCerts {
  /** Listener material (server.crt/key, rootCA.pem). */
  readonly server: TlsMaterial;
  /** mtls connector material for site-1 (client.crt/key, rootCA.pem). */
  readonly client: TlsMaterial;
  readonly admin: TlsMaterial;
  readonly serverName: string;
  readonly clientName: string;
}

export interface TestPki {
  readonly ours: LinkCerts;
  /** A second project: its root, server and client are foreign to `ours`. */
  readonly foreign: LinkCerts;
  /** site-1 material whose certificate (issued by our root) expired about two years ago. */
  readonly expiredClient: TlsMaterial;
}

async function provisionProject(name: string): Promise<{ certs: LinkCerts; projectDir: string }> {
  const dir = tempDir(`cohort-link-${name}-`);
  const file = writeFile(
    join(dir, "project.yml"),
    `api_version: 3
name: ${name}
participants:
  - {name: localhost, type: server, org: nvidia, fed_learn_port: 8002, host_names: [127.0.0.1, "::1"]}
  - {name: site-1, type: client, org: hospital_a}
  - {name: admin@nvidia.com, type: admin, org: nvidia, role: project_admin}
${DEFAULT_BUILDERS_YAML}`,
  );
  const result = await provision({ projectFile: file, workspace: join(dir, "ws") });
  const read = (kit: string, f: string): string => readFileSync(join(result.prodDir, kit, "startup", f), "utf8");
  const kit = (who: string, role: "server" | "client"): TlsMaterial => ({
    rootCaPem: read(who, "rootCA.pem"),
    certPem: read(who, `${role}.crt`),
    keyPem: read(who, `${role}.key`),
  });
  const certs = {
    server: kit("localhost", "server"),
    client: kit("site-1", "client"),
    admin: kit("admin@nvidia.com", "client"),
    serverName: "localhost",
    clientName: "site-1",
  };
  return { certs, projectDir: join(dir, "ws", name) };
}

async function expiredClientOf(dir: string, certs: LinkCerts): Promise<TlsMaterial> {
  const rootKeyPem = readFileSync(join(dir, "state", "rootCA.key"), "utf8");
  const issuer = await loadIssuer(certs.server.rootCaPem, rootKeyPem);
  const keys = await generateKeyPair();
  const twoYearsAgo = new Date(Date.now() - 2 * 365 * 24 * 3600 * 1000);
  const certPem = await issueCertificate({
    subject: { commonName: certs.clientName, organization: "hospital_a" },
    subjectPublicKeySpki: keys.publicKeySpki,
    subjectAltNames: [],
    extendedKeyUsages: ["clientAuth"],
    validDays: 1,
    issuer,
    now: twoYearsAgo,
  });
  return { rootCaPem: certs.server.rootCaPem, certPem, keyPem: keys.privateKeyPem };
}

let cached: Promise<TestPki> | undefined;

/** Provisions both projects (once per test process) and issues the expired certificate. */
export function testPki(): Promise<TestPki> {
  cached ??= (async () => {
    const [ours, foreign] = await Promise.all([provisionProject("link_ours"), provisionProject("link_foreign")]);
    return { ours: ours.certs, foreign: foreign.certs, expiredClient: await expiredClientOf(ours.projectDir, ours.certs) };
  })();
  return cached;
}
