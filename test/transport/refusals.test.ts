/**
 * Refusals against a real server process (`cohort start`, mtls, every driver): each is answered
 * with a typed error on the caller's side and written to the server's audit.log, and the server
 * keeps serving the other sites.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { provision } from "../../src/provision/index.js";
import { generateKeyPair, issueCertificate, loadIssuer } from "../../src/pki/index.js";
import { encode } from "../../src/wire/index.js";
import { driverFor, type Scheme } from "../../src/transport/index.js";
import { writeFile } from "../helpers/index.js";
import { provisionProject, startParticipantProcess, type CohortProcess } from "../helpers/processes.js";
import { RawSession, readKit, type Kit } from "../helpers/secure-session.js";

for (const scheme of ["tcp", "http", "grpc"] as Scheme[]) {
  describe(`${scheme}: refusals by a running server`, () => {
    let prodDir = "";
    let stateDir = "";
    let port = 0;
    let server: CohortProcess;
    let foreignKit: Kit;
    let driver: ReturnType<typeof driverFor>;
    const kit = (n: string): Kit => readKit(prodDir, n);
    const audit = (): Record<string, unknown>[] =>
      readFileSync(join(prodDir, "localhost", "audit.log"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const audited = async (code: string): Promise<void> => {
      for (let i = 0; i < 50; i++) {
        if (audit().some((l) => l["code"] === code && l["outcome"] === "denied")) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.fail(`no audit line with code ${code}`);
    };
    const open = (k: Kit): Promise<RawSession> => RawSession.open(driver, port, k, { security: "mtls" });
    const login = async (name: string): Promise<RawSession> => {
      const r = await open(kit(name));
      await r.login({ project: `refusals_${scheme}` });
      return r;
    };
    const stillServing = async (): Promise<void> => {
      const r = await login("site-3");
      const rep = await r.exchange(r.frame("req", "__heartbeat", new Uint8Array()));
      assert.equal(rep.header.k, "rep");
      r.conn.close();
    };

    before(async () => {
      driver = driverFor(scheme);
      const project = await provisionProject(scheme, "mtls", {
        name: `refusals_${scheme}`,
        extraParticipants: "  - {name: site-3, type: client, org: org_c, connect_to: 127.0.0.1}\n",
      });
      const { dir, projectFile: file } = project;
      ({ prodDir, port } = project);
      stateDir = join(dir, "ws", `refusals_${scheme}`, "state");
      // Short tokens and skew so that expiry can be observed; a low login rate for the flood test.
      const resPath = join(prodDir, "localhost", "local", "resources.json");
      const res = JSON.parse(readFileSync(`${resPath}.default`, "utf8")) as { servers: Record<string, unknown>[] };
      Object.assign(res.servers[0] ?? {}, { session_token_lifetime: 2, clock_skew_tolerance: 1, login_attempts_per_minute: 25 });
      writeFile(resPath, JSON.stringify(res));
      const other = await provision({ projectFile: writeFile(join(dir, "other.yml"), readFileSync(file, "utf8")), workspace: join(dir, "other") });
      const os = join(other.prodDir, "site-1", "startup");
      foreignKit = {
        name: "site-1",
        certPem: readFileSync(join(os, "client.crt"), "utf8"),
        keyPem: readFileSync(join(os, "client.key"), "utf8"),
        rootPem: kit("site-1").rootPem,
      };
      server = startParticipantProcess(join(prodDir, "localhost"), { server: true });
      await server.waitFor(new RegExp(`listening on 127\\.0\\.0\\.1:${port}`));
    });
    after(async () => {
      assert.equal(await server.stop(), 0, server.output);
      const text = readFileSync(join(prodDir, "localhost", "audit.log"), "utf8") + server.output;
      assert.doesNotMatch(text, /[A-Za-z0-9_-]{40,}\.[A-Za-z0-9_-]{40,}/, "no session token in the audit log or the server output");
    });

    test("no client certificate on mtls", async () => {
      // A `tls` connector presents no certificate: the mtls listener must refuse it.
      await assert.rejects(
        driver.dial({ host: "127.0.0.1", port, security: "tls", tls: { rootCaPem: kit("site-1").rootPem } }).then(async (c) => {
          // Some drivers only learn of the refusal when they try to use the link.
          await c.send([new Uint8Array(8)]);
          await new Promise((r) => setTimeout(r, 300));
          if (c.closed) throw new Error("closed");
          c.close();
        }),
      );
      await audited("ERR_LINK_NO_CLIENT_CERT");
    });

    test("a certificate from another CA (TLS level)", async () => {
      const k = foreignKit;
      await assert.rejects(
        RawSession.open(driver, port, k, { security: "mtls" }).then(async (r) => {
          await r.login({ project: `refusals_${scheme}` });
        }),
      );
      await audited("ERR_LINK_UNTRUSTED_CERT");
    });

    test("an expired certificate", async () => {
      const keys = await generateKeyPair();
      const certPem = await issueCertificate({
        subject: { commonName: "site-2", organization: "org_b" },
        subjectPublicKeySpki: keys.publicKeySpki,
        subjectAltNames: ["site-2"],
        extendedKeyUsages: ["clientAuth"],
        validDays: 1,
        issuer: await loadIssuer(kit("site-2").rootPem, readFileSync(join(stateDir, "rootCA.key"), "utf8")),
        now: new Date(Date.now() - 3 * 24 * 3600 * 1000),
      });
      await assert.rejects(
        RawSession.open(driver, port, { ...kit("site-2"), certPem, keyPem: keys.privateKeyPem }, { security: "mtls" }).then((r) =>
          r.login({ project: `refusals_${scheme}` }),
        ),
      );
      await audited("ERR_LINK_CERT_EXPIRED");
    });

    test("CN ≠ claimed name", async () => {
      const r = await open(kit("site-1"));
      await assert.rejects(r.login({ project: `refusals_${scheme}`, claimName: "site-2" }), (e: { code?: string }) => e.code === "ERR_AUTH_NAME_MISMATCH");
      await audited("ERR_AUTH_NAME_MISMATCH");
    });

    test("an admin certificate used as a site", async () => {
      const r = await open(kit("admin@nvidia.com"));
      await assert.rejects(r.login({ project: `refusals_${scheme}` }), (e: { code?: string }) => e.code === "ERR_AUTH_WRONG_TYPE");
      await audited("ERR_AUTH_WRONG_TYPE");
    });

    test("a forged token signature, another site's token, a replay, a swapped body", async () => {
      const a = await login("site-1");
      const b = await login("site-2");
      const [body = "", sig = ""] = a.token.split(".");
      let rep = await a.exchange(a.frame("req", "__heartbeat", new Uint8Array(), { token: `${body}.${sig.slice(0, -4)}AAAA` }));
      assert.equal(rep.header.code, "ERR_AUTH_TOKEN_INVALID");
      rep = await a.exchange(a.frame("req", "__heartbeat", new Uint8Array(), { token: b.token }));
      assert.equal(rep.header.code, "ERR_AUTH_TOKEN_NOT_YOURS");
      const f = a.frame("req", "__heartbeat", encode(1));
      assert.equal((await a.exchange(f)).header.k, "rep");
      assert.equal((await a.exchange(f)).header.code, "ERR_AUTH_REPLAY");
      const g = a.frame("req", "__heartbeat", encode(1));
      assert.equal((await a.exchange({ header: g.header, body: encode(2) })).header.code, "ERR_AUTH_BAD_MAC");
      for (const code of ["ERR_AUTH_TOKEN_INVALID", "ERR_AUTH_TOKEN_NOT_YOURS", "ERR_AUTH_REPLAY", "ERR_AUTH_BAD_MAC"]) await audited(code);
      a.conn.close();
      b.conn.close();
      await stillServing();
    });

    test("an expired token", async () => {
      const r = await login("site-2");
      assert.equal((await r.exchange(r.frame("req", "__heartbeat", new Uint8Array()))).header.k, "rep");
      await new Promise((res) => setTimeout(res, 3_300)); // lifetime 2 s + skew 1 s
      const rep = await r.exchange(r.frame("req", "__heartbeat", new Uint8Array()));
      assert.equal(rep.header.code, "ERR_AUTH_TOKEN_EXPIRED");
      await audited("ERR_AUTH_TOKEN_EXPIRED");
      r.conn.close();
    });

    test("a clear client against the TLS listener", async () => {
      await assert.rejects(
        driver.dial({ host: "127.0.0.1", port, security: "clear", timeoutMs: 3_000 }).then(async (c) => {
          const r = await RawSession.open(driver, port, kit("site-1"), { security: "clear" });
          c.close();
          await r.login({ project: `refusals_${scheme}` });
        }),
      );
      await audited("ERR_LINK_NOT_TLS");
    });

    test("a flood of logins is cut at the per-minute limit", { timeout: 60_000 }, async () => {
      const results = await Promise.allSettled(Array.from({ length: 40 }, () => login("site-1").then((r) => r.conn.close())));
      assert.ok(
        results.some((x) => x.status === "rejected" && (x.reason as { code?: string }).code === "ERR_AUTH_RATE_LIMITED"),
        JSON.stringify(results.map((x) => x.status)),
      );
      await audited("ERR_AUTH_RATE_LIMITED");
    });
  });
}
