/**
 * Seed 002's BYOConn topologies with a real nginx (own config, 127.0.0.1 only):
 *  - a `clear` server behind a TLS-terminating proxy: one site connects with `tls` (verifying the
 *    proxy with its custom CA), another with `mtls` (the proxy checks its kit certificate);
 *  - an `mtls` server behind a TCP pass-through proxy.
 * Message authentication (login signatures, MACs) holds end to end through both.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { provision } from "../../src/provision/index.js";
import { createRootCertificate, generateKeyPair, issueCertificate, loadIssuer, writePrivateKeyFile } from "../../src/pki/index.js";
import { freePorts, tempDir, writeFile } from "../helpers/index.js";
import { startParticipantProcess, type CohortProcess } from "../helpers/processes.js";
import { Nginx } from "../helpers/nginx.js";
import { requireSystem } from "../helpers/requirements.js";
const running: (CohortProcess | Nginx)[] = [];
after(async () => {
  for (const r of running.reverse()) await r.stop();
});

/** A CA of the proxy's own (as a company's or a public CA would be) and the proxy's certificate. */
async function proxyCredentials(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const caKeys = await generateKeyPair();
  const caPem = await createRootCertificate({
    commonName: "Proxy Test CA",
    validDays: 30,
    privateKeyPem: caKeys.privateKeyPem,
    publicKeySpki: caKeys.publicKeySpki,
  });
  const keys = await generateKeyPair();
  const certPem = await issueCertificate({
    subject: { commonName: "proxy.example.org", organization: "it_dept" },
    subjectPublicKeySpki: keys.publicKeySpki,
    subjectAltNames: ["proxy.example.org", "127.0.0.1"],
    extendedKeyUsages: ["serverAuth"],
    validDays: 30,
    issuer: await loadIssuer(caPem, caKeys.privateKeyPem),
  });
  const ca = writeFile(join(dir, "proxy-ca.pem"), caPem);
  const cert = writeFile(join(dir, "proxy.crt"), certPem);
  const key = join(dir, "proxy.key");
  writePrivateKeyFile(key, keys.privateKeyPem);
  return { ca, cert, key };
}

const BUILDERS = (scheme: string): string => `builders:
  - path: nvflare.lighter.impl.workspace.WorkspaceBuilder
  - path: nvflare.lighter.impl.static_file.StaticFileBuilder
    args: {scheme: ${scheme}}
  - path: nvflare.lighter.impl.cert.CertBuilder
  - path: nvflare.lighter.impl.signature.SignatureBuilder
`;

/** nginx location that forwards WebSocket upgrades (the http driver's link). */
const WS_LOCATION = (port: number): string => `location / {
      proxy_pass http://127.0.0.1:${port};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }`;

describe("clear server behind a TLS-terminating proxy, sites on tls and mtls", requireSystem("nginx"), () => {
  for (const scheme of ["tcp", "http"]) {
    test(`${scheme}: both sites log in through nginx`, { timeout: 90_000, ...(scheme === "tcp" ? requireSystem("nginx-stream") : {}) }, async () => {
      const dir = tempDir("cohort-proxy-");
      const [ps = 0, p1 = 0, p2 = 0] = await freePorts(3);
      const proxy = await proxyCredentials(dir);
      const project = writeFile(
        join(dir, "project.yml"),
        `api_version: 3
name: mixed_${scheme}
participants:
  - {name: localhost, type: server, org: nvidia, fed_learn_port: ${ps}, connection_security: clear, host_names: [127.0.0.1]}
  - {name: site-1, type: client, org: org_a, connect_to: {host: 127.0.0.1, port: ${p1}, connection_security: tls}, custom_ca_cert: ${proxy.ca}}
  - {name: site-2, type: client, org: org_b, connect_to: {host: 127.0.0.1, port: ${p2}, connection_security: mtls}}
${BUILDERS(scheme)}`,
      );
      const r = await provision({ projectFile: project, workspace: join(dir, "ws") });
      assert.ok(
        r.warnings.some((w) => /site-1 connects with tls but the server listens with clear/.test(w)),
        r.warnings.join("\n"),
      );
      const serverStartup = join(r.prodDir, "localhost", "startup");
      // Sites require TLS 1.3 (the server proves itself before they send a certificate); nginx before
      // 1.23.4 does not enable it by default.
      const mtlsProxy = `ssl_protocols TLSv1.2 TLSv1.3; ssl_certificate ${serverStartup}/server.crt; ssl_certificate_key ${serverStartup}/server.key;
    ssl_verify_client on; ssl_client_certificate ${serverStartup}/rootCA.pem;`;
      const nginx =
        scheme === "tcp"
          ? await Nginx.start(
              {
                stream: `  server { listen 127.0.0.1:${p1} ssl; ssl_protocols TLSv1.2 TLSv1.3; ssl_certificate ${proxy.cert}; ssl_certificate_key ${proxy.key}; proxy_pass 127.0.0.1:${ps}; }
  server { listen 127.0.0.1:${p2} ssl; ${mtlsProxy} proxy_pass 127.0.0.1:${ps}; }`,
              },
              [p1, p2],
            )
          : await Nginx.start(
              {
                http: `  server { listen 127.0.0.1:${p1} ssl; ssl_protocols TLSv1.2 TLSv1.3; ssl_certificate ${proxy.cert}; ssl_certificate_key ${proxy.key};
    ${WS_LOCATION(ps)} }
  server { listen 127.0.0.1:${p2} ssl; ${mtlsProxy}
    ${WS_LOCATION(ps)} }`,
              },
              [p1, p2],
            );
      running.push(nginx);
      const server = startParticipantProcess(join(r.prodDir, "localhost"), { server: true });
      running.push(server);
      await server.waitFor(new RegExp(`listening on 127\\.0\\.0\\.1:${ps}`));
      const s1 = startParticipantProcess(join(r.prodDir, "site-1"));
      const s2 = startParticipantProcess(join(r.prodDir, "site-2"));
      running.push(s1, s2);
      await s1
        .waitFor(new RegExp(`connected to localhost at 127\\.0\\.0\\.1:${p1} \\(${scheme}, tls\\)`), 30_000)
        .catch((e: Error) => assert.fail(`${e.message}\nnginx:\n${nginx.errorLog()}`));
      await s2
        .waitFor(new RegExp(`connected to localhost at 127\\.0\\.0\\.1:${p2} \\(${scheme}, mtls\\)`), 30_000)
        .catch((e: Error) => assert.fail(`${e.message}\nnginx:\n${nginx.errorLog()}`));
      await server.waitFor(/client site-1 \(org_a\) logged in/);
      await server.waitFor(/client site-2 \(org_b\) logged in/);
      for (const p of [s1, s2, server]) assert.equal(await p.stop(), 0, p.output);
      await nginx.stop();
    });
  }
});

describe("mtls server behind a TCP pass-through proxy", requireSystem("nginx-stream"), () => {
  for (const scheme of ["tcp", "http", "grpc"]) {
    test(`${scheme}: the site's mTLS session reaches the server through nginx`, { timeout: 90_000 }, async () => {
      const dir = tempDir("cohort-passthrough-");
      const [ps = 0, p3 = 0] = await freePorts(2);
      const project = writeFile(
        join(dir, "project.yml"),
        `api_version: 3
name: passthrough_${scheme}
participants:
  - {name: localhost, type: server, org: nvidia, fed_learn_port: ${ps}, host_names: [127.0.0.1]}
  - {name: site-3, type: client, org: org_c, connect_to: {host: 127.0.0.1, port: ${p3}}}
${BUILDERS(scheme)}`,
      );
      const r = await provision({ projectFile: project, workspace: join(dir, "ws") });
      const nginx = await Nginx.start({ stream: `  server { listen 127.0.0.1:${p3}; proxy_pass 127.0.0.1:${ps}; }` }, [p3]);
      running.push(nginx);
      const server = startParticipantProcess(join(r.prodDir, "localhost"), { server: true });
      running.push(server);
      await server.waitFor(new RegExp(`listening on 127\\.0\\.0\\.1:${ps}`));
      const site = startParticipantProcess(join(r.prodDir, "site-3"));
      running.push(site);
      await site.waitFor(new RegExp(`connected to localhost at 127\\.0\\.0\\.1:${p3} \\(${scheme}, mtls\\)`), 30_000);
      await server.waitFor(/client site-3 \(org_c\) logged in/);
      for (const p of [site, server]) assert.equal(await p.stop(), 0, p.output);
      await nginx.stop();
    });
  }
});
