/**
 * docs/privacy.md: kits are read with Cohort's `.ckks` context names or FLARE's `.tenseal` names
 * (the provisioning HEBuilder writes `.ckks`); both in one kit is refused; a TenSEAL-serialized
 * file (FLARE's own format) is refused with the reason.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { kitContextFile, readCkksContextFile } from "../../src/privacy/index.js";
import { tempDir, writeFile } from "../helpers/index.js";

test("a kit's context file: .ckks, else FLARE's .tenseal; both at once refused; TenSEAL bytes refused with the reason", () => {
  const startup = join(tempDir(), "startup");
  writeFile(join(startup, "placeholder"), "");
  assert.equal(kitContextFile(startup, "client"), undefined);
  writeFile(join(startup, "client_context.tenseal"), "\u0000\u0001tenseal-binary");
  assert.equal(kitContextFile(startup, "client"), join(startup, "client_context.tenseal"));
  assert.throws(() => readCkksContextFile(join(startup, "client_context.tenseal"), "client"), /a TenSEAL context serialized by FLARE is not Cohort's format/);
  writeFile(join(startup, "client_context.ckks"), "{}");
  assert.throws(() => kitContextFile(startup, "client"), /two client contexts in one kit; fix: keep one of them/);
  writeFile(join(startup, "server_context.tenseal"), "{}");
  assert.equal(kitContextFile(startup, "server"), join(startup, "server_context.tenseal"));
});
