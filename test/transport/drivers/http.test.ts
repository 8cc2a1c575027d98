/** http driver (HTTPS + WebSocket): the shared compliance suite and refusals, plus plain-HTTP answers. */
import { describe, test, before } from "node:test";
import assert from "node:assert/strict";
import { request as httpsRequest } from "node:https";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { httpDriver, LINK_PATH } from "../../../src/transport/drivers/index.js";
import { linkCompliance, linkRefusals, assertServes } from "../../helpers/transport-compliance.js";
import { testPki, type TestPki } from "../../helpers/transport-certs.js";
import { harness, until } from "../../helpers/transport-links.js";

function get(port: number, path: string, secure: boolean, ca: string | undefined): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const options = { host: "127.0.0.1", port, path, method: "GET", ...(secure ? { ca, rejectUnauthorized: false } : {}) };
    const req = (secure ? httpsRequest : httpRequest)(options, (res) => {
      res.resume();
      resolve(res);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("http driver: plain HTTP requests", () => {
  let pki: TestPki;
  before(async () => {
    pki = await testPki();
  });
  for (const security of ["clear", "tls"] as const) {
    test(`${security}: GET on another path is 404, on the link path 426; both reported; the listener serves on`, { timeout: 15_000 }, async () => {
      const h = await harness(httpDriver, security, pki.ours);
      try {
        const notFound = await get(h.listener.port, "/", security === "tls", pki.ours.server.rootCaPem);
        assert.equal(notFound.statusCode, 404);
        const upgradeRequired = await get(h.listener.port, LINK_PATH, security === "tls", pki.ours.server.rootCaPem);
        assert.equal(upgradeRequired.statusCode, 426);
        assert.equal(upgradeRequired.headers.upgrade, "websocket");
        await until(() => h.refusals.length >= 2, 2000, "two refusals");
        assert.deepEqual(
          h.refusals.map((r) => r.code),
          ["ERR_LINK_PROTOCOL", "ERR_LINK_PROTOCOL"],
        );
        await assertServes(h);
      } finally {
        await h.close();
      }
    });
  }
});

linkCompliance(httpDriver);
linkRefusals(httpDriver);
