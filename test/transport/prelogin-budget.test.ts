/**
 * The pre-login byte budget (issue 15) on every driver, with real listeners and TLS: anonymous
 * links (tls, clear) are charged for what they make the server buffer before login — on gRPC,
 * where HTTP/2 hides the bytes, a fixed reservation per call — and a link whose client certificate
 * verified (mtls) is not anonymous and is not charged at all.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { GRPC_PRE_LOGIN_RESERVATION_BYTES, PreLoginBudget, driverFor, type Scheme } from "../../src/transport/index.js";
import { testPki } from "../helpers/transport-certs.js";
import { harness, rejectsWith, until } from "../helpers/transport-links.js";

const FRAME = new Uint8Array(8 * 1024).fill(7);

for (const scheme of ["tcp", "http", "grpc"] as Scheme[]) {
  describe(`${scheme}: pre-login budget`, () => {
    const driver = driverFor(scheme);

    test("a pre-login frame larger than what is left of the budget closes an anonymous (tls) link", async () => {
      const { ours } = await testPki();
      // gRPC charges its reservation at the call; the others count the frame's bytes.
      const capacity = scheme === "grpc" ? GRPC_PRE_LOGIN_RESERVATION_BYTES : 4 * 1024;
      const budget = new PreLoginBudget(capacity);
      const h = await harness(driver, "tls", ours, { preLogin: true, preLoginBudget: budget });
      try {
        const c = await h.dial();
        if (scheme === "grpc") {
          const server = await h.accepted();
          assert.equal(budget.inUse, GRPC_PRE_LOGIN_RESERVATION_BYTES, "the call holds its reservation");
          await c.send([FRAME]);
          await server.count(1);
          // A second anonymous call finds the budget spent: refused before any frame is taken.
          await rejectsWith(
            h.dial().then(async (d) => {
              await d.send([FRAME]);
              await until(() => d.closed, 5_000, "the refused call to close");
              throw Object.assign(new Error("closed"), { code: "ERR_LINK_PRELOGIN_BUDGET" });
            }),
            ["ERR_LINK_PRELOGIN_BUDGET"],
          );
          await until(() => h.refusals.some((r) => r.code === "ERR_LINK_PRELOGIN_BUDGET"), 5_000, "the listener's refusal");
          // Login releases the reservation: the next anonymous call is taken.
          server.connection.authenticated?.();
          assert.equal(budget.inUse, 0);
          const again = await h.dial();
          const third = await h.accepted();
          await again.send([FRAME]);
          await third.count(1);
          assert.equal(budget.inUse, GRPC_PRE_LOGIN_RESERVATION_BYTES);
        } else {
          const server = await h.accepted();
          await c.send([FRAME]);
          const error = await server.closed;
          assert.equal((error as { code?: string } | undefined)?.code, "ERR_LINK_PRELOGIN_BUDGET", String(error));
          assert.equal(server.frames.length, 0);
          await until(() => budget.inUse === 0, 5_000, "the closed link to release its bytes");
        }
      } finally {
        await h.close();
      }
    });

    test("links whose client certificate verified (mtls) are not charged", async () => {
      const { ours } = await testPki();
      const budget = new PreLoginBudget(1024);
      const h = await harness(driver, "mtls", ours, { preLogin: true, preLoginBudget: budget });
      try {
        // More links and bytes than the budget could hold, none of them logged in.
        const links = await Promise.all(Array.from({ length: 4 }, () => h.dial()));
        const servers = await Promise.all(links.map(() => h.accepted()));
        await Promise.all(links.map((l) => l.send([FRAME])));
        await Promise.all(servers.map((s) => s.count(1)));
        assert.equal(budget.inUse, 0);
        assert.deepEqual(h.refusals, []);
        for (const s of servers) assert.equal(s.connection.closed, false);
      } finally {
        await h.close();
      }
    });
  });
}
