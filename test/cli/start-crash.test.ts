import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { provisionProject, startParticipantProcess } from "../helpers/processes.js";

test("cohort start logs an uncaught exception and exits non-zero, so its supervisor restarts a clean process", { timeout: 60_000 }, async () => {
  const { prodDir } = await provisionProject("tcp", "mtls", { name: "start_crash" });
  const server = startParticipantProcess(join(prodDir, "localhost"), { server: true, nodeArgs: ["--import", "./test/helpers/crash-on-signal.ts"] });
  try {
    await server.waitFor(/listening on/, 30_000);
    process.kill(server.pid, "SIGUSR2");
    const code = await Promise.race([server.exited, new Promise<"hung">((r) => setTimeout(() => r("hung"), 20_000))]);
    assert.notEqual(code, "hung", "the process went on after an uncaught exception");
    assert.notEqual(code, 0);
    assert.match(server.output, /internal error \(uncaught exception\), exiting for a restart: Error: injected by the test's crash-on-signal preload/);
  } finally {
    await server.stop();
  }
});
