/**
 * docs/security.md "Link limits (server side)": frame sizes before and after login, the server-wide
 * pre-login budget, connections per address and the handshake timeout, as numbers: the documented
 * value is the exported constant the drivers use, and the frame decoder and the budget are pinned at
 * the limit and one past it. (The limits at work on real servers: prelogin-limits.test.ts,
 * prelogin-many-addresses.test.ts and the drivers' compliance suites.)
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_LINK_LIMITS,
  GRPC_PRE_LOGIN_RESERVATION_BYTES,
  PreLoginBudget,
  PRE_LOGIN_BUDGET_BYTES,
  PRE_LOGIN_FRAME_BYTES,
} from "../../src/transport/index.js";
import { PreLoginMeter } from "../../src/transport/drivers/prelogin.js";
import { FrameDecoder, frameHeader } from "../../src/transport/drivers/framing.js";
import { documentedNumber } from "../helpers/doc-limits.js";

const SECURITY = "docs/security.md";

describe("link limits", () => {
  test("the documented numbers are the constants the drivers use", () => {
    assert.equal(PRE_LOGIN_FRAME_BYTES, documentedNumber(SECURITY, /\| frame size before login \| (\d+) (KiB) \(`preLoginFrameBytes`\)/));
    assert.equal(DEFAULT_LINK_LIMITS.preLoginFrameBytes, PRE_LOGIN_FRAME_BYTES);
    assert.equal(
      PRE_LOGIN_BUDGET_BYTES,
      documentedNumber(SECURITY, /\| bytes buffered for all unauthenticated links of a server \| (\d+) (MiB) \(`preLoginBudgetBytes`/),
    );
    assert.equal(GRPC_PRE_LOGIN_RESERVATION_BYTES, documentedNumber(SECURITY, /each anonymous call is charged a fixed (\d+) (KiB)/));
    assert.equal(DEFAULT_LINK_LIMITS.maxFrameBytes, documentedNumber(SECURITY, /\| frame size after login \| (\d+) (MiB) \(`maxFrameBytes`\)/));
    assert.equal(DEFAULT_LINK_LIMITS.maxConnectionsPerAddress, documentedNumber(SECURITY, /\| connections per address \| (\d+) \|/));
    assert.equal(DEFAULT_LINK_LIMITS.handshakeTimeoutMs, documentedNumber(SECURITY, /\| TLS and link handshake \| (\d+) (s) \|/));
    assert.equal(PRE_LOGIN_FRAME_BYTES, documentedNumber("docs/protocol.md", /a link takes only frames of at most (\d+) (KiB)/));
  });

  for (const [what, limit] of [
    ["before login", PRE_LOGIN_FRAME_BYTES],
    ["after login", DEFAULT_LINK_LIMITS.maxFrameBytes],
  ] as const) {
    test(`frame size ${what}: a header announcing the limit is taken, one byte more is refused at the header`, () => {
      const at = new FrameDecoder(limit);
      assert.doesNotThrow(() => at.push(frameHeader(limit), () => undefined));
      const past = new FrameDecoder(limit);
      assert.throws(() => past.push(frameHeader(limit + 1), () => undefined), { code: "ERR_LINK_FRAME_TOO_LARGE" });
    });
  }

  test("pre-login budget: connections together may hold exactly the budget; one byte more closes the link that asks", () => {
    const budget = new PreLoginBudget();
    assert.equal(budget.capacity, PRE_LOGIN_BUDGET_BYTES);
    const a = new PreLoginMeter(budget, "127.0.0.2");
    const b = new PreLoginMeter(budget, "127.0.0.3");
    assert.equal(a.add(PRE_LOGIN_BUDGET_BYTES / 2), undefined);
    assert.equal(b.add(PRE_LOGIN_BUDGET_BYTES / 2), undefined, "at the limit");
    assert.equal(budget.inUse, PRE_LOGIN_BUDGET_BYTES);
    const refusal = b.add(1);
    assert.equal(refusal?.code, "ERR_LINK_PRELOGIN_BUDGET", "one byte past it");
    assert.match(refusal?.message ?? "", new RegExp(`pre-login budget is ${PRE_LOGIN_BUDGET_BYTES}`));
    a.settle(); // a's frame was delivered: its bytes are free again
    assert.equal(b.add(1), undefined);
  });
});
