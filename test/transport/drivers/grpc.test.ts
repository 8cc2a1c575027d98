/** grpc driver (@grpc/grpc-js bidirectional stream): the shared compliance suite and refusals. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { driverFor, grpcDriver, httpDriver, tcpDriver } from "../../../src/transport/drivers/index.js";
import { linkCompliance, linkRefusals } from "../../helpers/transport-compliance.js";

test("driverFor maps each FLARE scheme to its driver (loaded on first use) and refuses others", () => {
  for (const real of [grpcDriver, httpDriver, tcpDriver]) {
    const d = driverFor(real.scheme);
    assert.equal(d.scheme, real.scheme);
    assert.equal(driverFor(real.scheme), d, "one driver object per scheme");
  }
  assert.throws(() => driverFor("udp" as "tcp"), { code: "ERR_LINK_CONFIG" });
});

// grpc-js answers an oversized message itself and tells the server handler only "cancelled".
linkCompliance(grpcDriver, { oversizeReceiverCodes: ["ERR_LINK_FRAME_TOO_LARGE", "ERR_LINK_CLOSED"] });
linkRefusals(grpcDriver);
