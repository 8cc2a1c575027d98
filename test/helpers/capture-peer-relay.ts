/**
 * Test-only preload for a server process (`--import`): writes every peer message the server relays
 * to a site (topic job.peer.deliver) into $COHORT_TEST_CAPTURE_DIR, as a network observer at the
 * server would see it after TLS. Production code has no such hook.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { TransportServer } from "../../src/transport/index.js";

const dir = process.env["COHORT_TEST_CAPTURE_DIR"];
const original = TransportServer.prototype.request;
let count = 0;
TransportServer.prototype.request = function (this: TransportServer, peer, topic, body, options) {
  if (dir && topic === "job.peer.deliver")
    writeFileSync(join(dir, `${String(++count).padStart(4, "0")}-${peer}.bin`), body instanceof Uint8Array ? body : Buffer.concat(body));
  return original.call(this, peer, topic, body, options);
};
