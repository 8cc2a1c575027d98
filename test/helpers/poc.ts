/**
 * A POC for one test file: `cohort poc prepare -n 2` and `start` in a temporary workspace, stopped
 * after the file's tests whatever happens. Call at module level; `start()` inside the test.
 */
import { after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { POC_ADMIN, stopPoc } from "../../src/runtime/poc/index.js";
import { runCli, tempDir } from "./index.js";

export function testPoc(prefix: string): { workspace: string; adminKit: string; start(): Promise<void> } {
  const workspace = join(tempDir(prefix), "poc");
  after(async () => {
    if (existsSync(join(workspace, "poc.json"))) await stopPoc({ workspace, graceMs: 3_000 }).catch(() => undefined);
  });
  return {
    workspace,
    adminKit: join(workspace, "cohort_poc", "prod_00", POC_ADMIN),
    async start() {
      const prep = await runCli(["poc", "prepare", "-n", "2", "-w", workspace]);
      assert.equal(prep.code, 0, prep.stderr);
      const start = await runCli(["poc", "start", "-w", workspace, "--timeout", "90"], {}, { timeoutMs: 120_000 });
      assert.equal(start.code, 0, start.stdout + start.stderr);
    },
  };
}
