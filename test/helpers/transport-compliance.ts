/**
 * The compliance suite every link driver passes (libp2p style), for each connection-security
 * mode, plus the refusals a listener must report. Call from one test file per driver.
 */
import { describe, test, before } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { ConnectionSecurity, Driver } from "../../src/transport/driver.js";
import { testPki, type TestPki } from "./transport-certs.js";
import { Collector, MODES, delay, harness, rejectsWith, until, type Harness } from "./transport-links.js";

const MiB = 1024 * 1024;

async function withHarness(
  driver: Driver,
  security: ConnectionSecurity,
  pki: TestPki,
  body: (h: Harness) => Promise<void>,
  options: Parameters<typeof harness>[3] = {},
): Promise<void> {
  const h = await harness(driver, security, pki.ours, options);
  try {
    await body(h);
  } finally {
    await h.close();
  }
}

/** A good client still gets through (after a refusal). */
export async function assertServes(h: Harness): Promise<void> {
  const client = new Collector(await h.dial());
  const server = await h.accepted();
  await client.connection.send([Buffer.from("ping")]);
  assert.equal((await server.next()).toString(), "ping");
  client.connection.close();
  await server.closed;
}

export interface ComplianceOptions {
  /**
   * Close codes the receiver of a frame above its limit may report (default: only
   * ERR_LINK_FRAME_TOO_LARGE; grpc-js hides the reason from the server handler).
   */
  readonly oversizeReceiverCodes?: readonly string[];
}

export function linkCompliance(driver: Driver, options: ComplianceOptions = {}): void {
  const oversizeCodes = options.oversizeReceiverCodes ?? ["ERR_LINK_FRAME_TOO_LARGE"];
  let pki: TestPki;
  before(async () => {
    pki = await testPki();
  });

  for (const security of MODES) {
    describe(`${driver.scheme} driver, ${security}`, () => {
      test("connects; frames flow both ways in order; identities visible", { timeout: 15_000 }, async () => {
        await withHarness(driver, security, pki, async (h) => {
          const client = new Collector(await h.dial(security === "clear" ? {} : { expectedServerIdentity: "localhost" }));
          const server = await h.accepted();
          assert.equal(client.connection.scheme, driver.scheme);
          assert.equal(client.connection.security, security);
          assert.equal(server.connection.remoteAddress.replace(/^::ffff:/, ""), "127.0.0.1");
          assert.notEqual(client.connection.id, server.connection.id);
          for (let i = 0; i < 5; i++) await client.connection.send([Buffer.from(`c${i}`)]);
          for (let i = 0; i < 5; i++) await server.connection.send([Buffer.from(`s${i}`)]);
          await server.count(5);
          await client.count(5);
          assert.deepEqual(server.frames.map(String), ["c0", "c1", "c2", "c3", "c4"]);
          assert.deepEqual(client.frames.map(String), ["s0", "s1", "s2", "s3", "s4"]);
          const serverSeesCn = server.connection.peerCertificate?.subject.split("\n").find((l) => l.startsWith("CN="));
          assert.equal(serverSeesCn, security === "mtls" ? "CN=site-1" : undefined);
          const clientSeesCn = client.connection.peerCertificate?.subject.split("\n").find((l) => l.startsWith("CN="));
          assert.equal(clientSeesCn, security === "clear" ? undefined : "CN=localhost");
        });
      });

      test("multi-part and empty frames arrive whole", { timeout: 15_000 }, async () => {
        await withHarness(driver, security, pki, async (h) => {
          const client = new Collector(await h.dial());
          const server = await h.accepted();
          const parts = [Buffer.from("head:"), new Uint8Array(0), randomBytes(70_000), Buffer.from(":tail")];
          await client.connection.send(parts);
          await client.connection.send([]);
          await client.connection.send([new Uint8Array([1, 2, 3]).subarray(1)]);
          await server.count(3);
          assert.ok(server.frames[0]?.equals(Buffer.concat(parts)));
          assert.equal(server.frames[1]?.length, 0);
          assert.deepEqual([...(server.frames[2] ?? [])], [2, 3]);
        });
      });

      test("a frame of exactly maxFrameBytes passes; one byte more is refused, the listener lives on", { timeout: 20_000 }, async () => {
        const max = 64 * 1024;
        await withHarness(
          driver,
          security,
          pki,
          async (h) => {
            const client = new Collector(await h.dial());
            const server = await h.accepted();
            await client.connection.send([randomBytes(max - 10), randomBytes(10)]);
            assert.equal((await server.next()).length, max);
            await rejectsWith(client.connection.send([randomBytes(max + 1)]), ["ERR_LINK_FRAME_TOO_LARGE"]);
            assert.equal(client.connection.closed, false, "a refused send leaves the connection open");
            // A peer with a larger limit sends max+1: the receiver closes that connection.
            const big = new Collector(await h.dial({ limits: { maxFrameBytes: 4 * max } }));
            const bigServer = await h.accepted();
            await big.connection.send([randomBytes(max + 1)]).catch(() => undefined);
            const error = await bigServer.closed;
            assert.ok(oversizeCodes.includes((error as { code?: string } | undefined)?.code ?? ""), `receiver closed with ${String(error)}`);
            assert.equal(((await big.closed) as { code?: string } | undefined)?.code !== undefined, true, "the sender sees an abnormal close");
            assert.equal(bigServer.frames.length, 0);
            await client.connection.send([Buffer.from("still here")]);
            assert.equal((await server.next()).toString(), "still here");
            await assertServes(h);
          },
          { limits: { maxFrameBytes: max } },
        );
      });

      test("before login a frame above preLoginFrameBytes closes the link at its header; after authenticated() it passes", { timeout: 20_000 }, async () => {
        const pre = 64 * 1024;
        await withHarness(
          driver,
          security,
          pki,
          async (h) => {
            const client = new Collector(await h.dial());
            const server = await h.accepted();
            await client.connection.send([randomBytes(pre)]);
            assert.equal((await server.next()).length, pre, "a frame of exactly the pre-login limit passes");
            // Announces 8 MiB: refused at the header (the body is never buffered).
            await client.connection.send([randomBytes(8 * MiB)]).catch(() => undefined);
            const error = await server.closed;
            assert.ok(oversizeCodes.includes((error as { code?: string } | undefined)?.code ?? ""), `receiver closed with ${String(error)}`);
            if ((error as { code?: string } | undefined)?.code === "ERR_LINK_FRAME_TOO_LARGE") assert.match((error as Error).message, /before login/);
            assert.equal(server.frames.length, 1);
            // The same frame after login passes.
            const late = new Collector(await h.dial());
            const lateServer = await h.accepted();
            lateServer.connection.authenticated?.();
            await late.connection.send([randomBytes(8 * MiB)]);
            assert.equal((await lateServer.next()).length, 8 * MiB);
          },
          { preLogin: true },
        );
      });

      test("1000 small frames in order, and a 32 MiB frame", { timeout: 30_000 }, async () => {
        await withHarness(driver, security, pki, async (h) => {
          const client = new Collector(await h.dial());
          const server = await h.accepted();
          const sends: Promise<void>[] = [];
          for (let i = 0; i < 1000; i++) sends.push(client.connection.send([Buffer.from(String(i))]));
          await Promise.all(sends);
          await server.count(1000);
          assert.deepEqual(
            server.frames.map(String),
            Array.from({ length: 1000 }, (_, i) => String(i)),
          );
          const big = randomBytes(32 * MiB);
          await server.connection.send([big.subarray(0, 7), big.subarray(7)]);
          const got = await client.next();
          assert.equal(got.length, big.length);
          assert.equal(createHash("sha256").update(got).digest("hex"), createHash("sha256").update(big).digest("hex"));
        });
      });

      test("close from either side fires onClose exactly once on both; close is idempotent", { timeout: 15_000 }, async () => {
        await withHarness(driver, security, pki, async (h) => {
          const a = new Collector(await h.dial());
          const aServer = await h.accepted();
          a.connection.close("done");
          a.connection.close("again");
          assert.equal(a.connection.closed, true);
          assert.equal(await a.closed, undefined);
          assert.equal(await aServer.closed, undefined);
          await rejectsWith(a.connection.send([Buffer.from("x")]), ["ERR_LINK_CLOSED"]);

          const b = new Collector(await h.dial());
          const bServer = await h.accepted();
          await b.connection.send([Buffer.from("last words")]);
          assert.equal((await bServer.next()).toString(), "last words");
          bServer.connection.close();
          bServer.connection.close();
          await Promise.all([b.closed, bServer.closed]);
          await delay(50);
          assert.deepEqual([a.closeCount, aServer.closeCount, b.closeCount, bServer.closeCount], [1, 1, 1, 1]);
          let late = 0;
          b.connection.onClose(() => late++);
          await delay(5);
          assert.equal(late, 1, "onClose registered after the close still fires once");
        });
      });

      test("listener.close() closes every client and resolves", { timeout: 15_000 }, async () => {
        const h = await harness(driver, security, pki.ours);
        const clients = [new Collector(await h.dial()), new Collector(await h.dial())];
        const servers = [await h.accepted(), await h.accepted()];
        await h.listener.close();
        await Promise.all(clients.map((c) => c.closed));
        assert.deepEqual(
          servers.map((s) => s.closeCount),
          [1, 1],
        );
        await h.listener.close(); // idempotent
        await rejectsWith(h.dial({ timeoutMs: 2000 }), ["ERR_LINK_REFUSED", "ERR_LINK_TIMEOUT"]);
      });

      test("backpressure: a paused reader holds the writer back; 200 × 1 MiB arrive after resume", { timeout: 30_000 }, async () => {
        await withHarness(
          driver,
          security,
          pki,
          async (h) => {
            const client = new Collector(await h.dial());
            const server = await h.accepted();
            const chunk = randomBytes(MiB);
            const base = process.memoryUsage().arrayBuffers;
            let sent = 0;
            const writer = (async () => {
              for (let i = 0; i < 200; i++) {
                chunk.writeUInt32BE(i, 0);
                await client.connection.send([chunk]);
                sent++;
              }
            })();
            await delay(400);
            const peak = process.memoryUsage().arrayBuffers - base;
            assert.ok(sent < 150, `the writer was held back (${sent} of 200 frames handed over while the reader paused)`);
            assert.ok(peak < 120 * MiB, `memory grew by ${(peak / MiB).toFixed(0)} MiB while paused`);
            assert.ok(server.frames.length < 100, `paused reader got ${server.frames.length} frames`);
            server.connection.resume?.();
            await writer;
            await server.count(200);
            assert.equal(server.frames.length, 200);
            for (let i = 0; i < 200; i++) assert.equal(server.frames[i]?.readUInt32BE(0), i);
          },
          { onServerConnection: (c) => c.pause?.() },
        );
      });
    });
  }

  test(`${driver.scheme} driver works on ::1`, { timeout: 15_000 }, async () => {
    await withHarness(
      driver,
      "mtls",
      pki,
      async (h) => {
        const client = new Collector(await h.dial({ expectedServerIdentity: "localhost" }));
        const server = await h.accepted();
        await client.connection.send([Buffer.from("v6")]);
        assert.equal((await server.next()).toString(), "v6");
        assert.equal(server.connection.remoteAddress, "::1");
      },
      { host: "::1" },
    );
  });
}

export function linkRefusals(driver: Driver): void {
  let pki: TestPki;
  before(async () => {
    pki = await testPki();
  });
  const codes = (h: Harness): string[] => h.refusals.map((r) => r.code);

  describe(`${driver.scheme} driver refusals`, () => {
    test("mtls: a client without a certificate is refused and told why", { timeout: 15_000 }, async () => {
      await withHarness(driver, "mtls", pki, async (h) => {
        await rejectsWith(
          h.dial({ security: "tls", tls: { rootCaPem: pki.ours.client.rootCaPem } }),
          ["ERR_LINK_NO_CLIENT_CERT"],
          /requires a client certificate/,
        );
        await until(() => h.refusals.length > 0, 2000, "onRefused");
        assert.deepEqual(codes(h), ["ERR_LINK_NO_CLIENT_CERT"]);
        await assertServes(h);
      });
    });

    test("mtls: the TLS handshake itself refuses a client without a certificate (alert) or with a foreign one (no byte of the link)", {
      timeout: 20_000,
    }, async () => {
      await withHarness(driver, "mtls", pki, async (h) => {
        const raw = (material: { certPem?: string; keyPem?: string }): Promise<{ error: string | undefined; received: number }> =>
          new Promise((resolve) => {
            let received = 0;
            let error: string | undefined;
            const socket = tlsConnect({
              host: "127.0.0.1",
              port: h.listener.port,
              rejectUnauthorized: false,
              ...(driver.scheme === "grpc" ? { ALPNProtocols: ["h2"] } : {}),
              ...(material.certPem ? { cert: material.certPem, key: material.keyPem } : {}),
            });
            // Speak first, as each driver's dialer does (tcp preface, HTTP upgrade, HTTP/2 preface).
            socket.once("secureConnect", () =>
              socket.write(
                driver.scheme === "tcp"
                  ? Buffer.from([0, 0, 0, 13, ...Buffer.from("COHORT-LINK/1")])
                  : driver.scheme === "http"
                    ? "GET /cohort/v1/link HTTP/1.1\r\nHost: x\r\n\r\n"
                    : "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
              ),
            );
            socket.on("data", (chunk: Buffer) => (received += chunk.length));
            socket.on("error", (err: Error & { code?: string }) => (error ??= err.code));
            socket.on("close", () => resolve({ error, received }));
          });
        const none = await raw({});
        assert.equal(none.error, "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", "a client without a certificate gets the certificate_required alert");
        assert.equal(none.received, 0, "no byte of the link reaches a client without a certificate");
        const foreign = await raw(pki.foreign.client);
        assert.equal(foreign.received, 0, "no byte of the link reaches a client with a foreign certificate");
        await until(() => h.refusals.length >= 2, 5000, "onRefused");
        assert.deepEqual(codes(h), ["ERR_LINK_NO_CLIENT_CERT", "ERR_LINK_UNTRUSTED_CERT"]);
        assert.match(h.refusals[0]?.reason ?? "", /in the TLS handshake/);
        assert.match(h.refusals[1]?.reason ?? "", /not issued by the trusted root.*in the TLS handshake/);
        await assertServes(h);
      });
    });

    test("mtls: a client certificate from another CA is refused", { timeout: 15_000 }, async () => {
      await withHarness(driver, "mtls", pki, async (h) => {
        const tls = { ...pki.foreign.client, rootCaPem: pki.ours.client.rootCaPem };
        // Refused as the TLS handshake ends: Node's TLS server cannot send an alert for it, so the
        // dialer sees the connection closed before the link.
        await rejectsWith(h.dial({ tls }), ["ERR_LINK_UNTRUSTED_CERT", "ERR_LINK_REFUSED"]);
        await until(() => h.refusals.length > 0, 2000, "onRefused");
        assert.deepEqual(codes(h), ["ERR_LINK_UNTRUSTED_CERT"]);
        assert.match(h.refusals[0]?.reason ?? "", /not issued by the trusted root/);
        await assertServes(h);
      });
    });

    test("mtls: an expired client certificate is refused", { timeout: 15_000 }, async () => {
      await withHarness(driver, "mtls", pki, async (h) => {
        await rejectsWith(h.dial({ tls: pki.expiredClient }), ["ERR_LINK_CERT_EXPIRED", "ERR_LINK_REFUSED"]);
        await until(() => h.refusals.length > 0, 2000, "onRefused");
        assert.deepEqual(codes(h), ["ERR_LINK_CERT_EXPIRED"]);
        await assertServes(h);
      });
    });

    test("tls: a server certificate from another CA fails the dial with ERR_LINK_UNTRUSTED_SERVER", { timeout: 15_000 }, async () => {
      await withHarness(
        driver,
        "tls",
        pki,
        async (h) => {
          const e = await rejectsWith(h.dial(), ["ERR_LINK_UNTRUSTED_SERVER"], /not issued by the trusted root/);
          assert.match(e.message, /fingerprint/);
          await until(() => h.refusals.length > 0, 3000, "onRefused");
          assert.equal(codes(h)[0], "ERR_LINK_TLS_HANDSHAKE");
        },
        { listenerTls: pki.foreign.server },
      );
    });

    test("a server CN other than expectedServerIdentity fails the dial", { timeout: 15_000 }, async () => {
      await withHarness(driver, "mtls", pki, async (h) => {
        await rejectsWith(h.dial({ expectedServerIdentity: "server1" }), ["ERR_LINK_SERVER_IDENTITY"], /CN is 'localhost', expected 'server1'/);
        await assertServes(h);
      });
    });

    test("a clear client against a TLS listener is refused", { timeout: 15_000 }, async () => {
      await withHarness(driver, "tls", pki, async (h) => {
        const e = await rejectsWith(h.dial({ security: "clear", tls: undefined }), ["ERR_LINK_NOT_TLS", "ERR_LINK_REFUSED"]);
        assert.match(e.message, /TLS/);
        await until(() => h.refusals.length > 0, 3000, "onRefused");
        assert.deepEqual(codes(h), ["ERR_LINK_NOT_TLS"]);
        await assertServes(h);
      });
    });

    test("connections above maxConnectionsPerAddress are refused", { timeout: 15_000 }, async () => {
      await withHarness(
        driver,
        "mtls",
        pki,
        async (h) => {
          const first = new Collector(await h.dial());
          const second = new Collector(await h.dial());
          const firstServer = await h.accepted();
          await h.accepted();
          await rejectsWith(h.dial(), ["ERR_LINK_REFUSED"]);
          await until(() => h.refusals.length > 0, 2000, "onRefused");
          assert.deepEqual(codes(h), ["ERR_LINK_TOO_MANY_CONNECTIONS"]);
          first.connection.close();
          // The listener frees the address's slot when its socket closes (on grpc the HTTP/2 session goes
          // after the stream): wait for the closes, then retry a new link until served (bounded), not a fixed time.
          await Promise.all([first.closed, firstServer.closed]);
          for (let attempt = 1; ; attempt++) {
            try {
              await assertServes(h);
              break;
            } catch (err) {
              if (attempt >= 50) throw err;
              await delay(100);
            }
          }
          second.connection.close();
        },
        { limits: { maxConnectionsPerAddress: 2 } },
      );
    });

    for (const security of MODES) {
      test(`${security}: silent clients time out; garbage and abrupt disconnects are refused without harm`, { timeout: 15_000 }, async () => {
        await withHarness(
          driver,
          security,
          pki,
          async (h) => {
            const silent = netConnect({ host: "127.0.0.1", port: h.listener.port });
            silent.on("error", () => undefined);
            const garbage = netConnect({ host: "127.0.0.1", port: h.listener.port }, () => garbage.write(randomBytes(3000)));
            garbage.on("error", () => undefined);
            const abrupt = netConnect({ host: "127.0.0.1", port: h.listener.port }, () => abrupt.destroy());
            await until(() => h.refusals.length >= 3, 5000, "three refusals");
            const byCode = new Set(codes(h));
            assert.ok(byCode.has("ERR_LINK_TIMEOUT"), codes(h).join());
            silent.destroy();
            garbage.destroy();
            await assertServes(h);
          },
          { limits: { handshakeTimeoutMs: 300 } },
        );
      });
    }
  });
}
