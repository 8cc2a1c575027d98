/**
 * A failed dial says what failed, naming the host (issue 19): a name that does not resolve is a
 * DNS error (before, it read as a refusal by a server "without a valid certificate"), nothing
 * listening is "nothing accepts connections", no route is "cannot reach"; on every link scheme and
 * security mode, and in a real site's log.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { driverFor } from "../../src/transport/index.js";
import { LinkErrorCode, networkDialError } from "../../src/transport/drivers/errors.js";
import { testPki, type TestPki } from "../helpers/transport-certs.js";
import { dialerMaterial } from "../helpers/transport-links.js";
import { provisionProject, startParticipantProcess } from "../helpers/processes.js";

/** RFC 6761: names under .invalid never resolve. */
const NO_SUCH_HOST = "nonexistent.invalid";

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

test("the classifier: lookup failures, nothing listening and no route, from socket codes and from grpc-js's text", () => {
  const cases: [string | undefined, string, string | undefined][] = [
    ["ENOTFOUND", "", LinkErrorCode.Dns],
    ["EAI_AGAIN", "", LinkErrorCode.Dns],
    [undefined, "Name resolution failed for target dns:h:1", LinkErrorCode.Dns],
    ["ECONNREFUSED", "", LinkErrorCode.Refused],
    [undefined, "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1", LinkErrorCode.Refused],
    ["EHOSTUNREACH", "", LinkErrorCode.Unreachable],
    ["ENETUNREACH", "", LinkErrorCode.Unreachable],
    [undefined, "connect ETIMEDOUT 10.0.0.1:8002", LinkErrorCode.Unreachable],
    ["ECONNRESET", "", undefined],
    [undefined, "certificate verify failed", undefined],
  ];
  for (const [code, text, want] of cases) {
    const e = networkDialError(code, text, "h.example", "h.example:8002");
    assert.equal(e?.code, want, `${code} ${text}`);
    if (e) assert.match(e.message, /h\.example/, "names the host");
  }
});

describe("dials on every scheme and mode", () => {
  let pki: TestPki;
  before(async () => {
    pki = await testPki();
  });
  for (const scheme of ["tcp", "http", "grpc"] as const)
    for (const security of ["clear", "tls", "mtls"] as const)
      test(`${scheme} ${security}: an unresolvable name is a DNS error naming it; a closed port is "nothing accepts connections"; neither speaks of certificates`, {
        timeout: 30_000,
      }, async () => {
        const dial = (host: string, port: number) =>
          driverFor(scheme).dial({ host, port, security, tls: dialerMaterial(security, pki.ours), expectedServerIdentity: "localhost", timeoutMs: 10_000 });
        await assert.rejects(dial(NO_SUCH_HOST, 8002), (e: Error & { code?: string }) => {
          assert.equal(e.code, LinkErrorCode.Dns, e.message);
          assert.match(e.message, /cannot resolve the server name "nonexistent\.invalid"/);
          assert.doesNotMatch(e.message, /certificate/);
          return true;
        });
        const port = await closedPort();
        await assert.rejects(dial("127.0.0.1", port), (e: Error & { code?: string }) => {
          assert.equal(e.code, LinkErrorCode.Refused, e.message);
          assert.match(e.message, new RegExp(`nothing accepts connections at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
          assert.doesNotMatch(e.message, /certificate/);
          return true;
        });
      });
});

test("a real site whose kit names an unresolvable server logs a DNS error naming it, and keeps retrying", { timeout: 60_000 }, async () => {
  const { prodDir } = await provisionProject("tcp", "mtls", {
    name: "dial_errors",
    extraParticipants: `  - {name: site-3, type: client, org: org_c, connect_to: ${NO_SUCH_HOST}}\n`,
  });
  const site = startParticipantProcess(join(prodDir, "site-3"));
  try {
    const line = await site.waitFor(/connecting to nonexistent\.invalid:\d+ failed: .*/, 40_000);
    assert.match(line, /ERR_LINK_DNS.*cannot resolve the server name "nonexistent\.invalid".*retrying in/);
    assert.doesNotMatch(line, /certificate/);
  } finally {
    await site.stop();
  }
});
