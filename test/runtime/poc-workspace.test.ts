/**
 * docs/simulator-poc.md on the POC workspace, without starting a federation: `poc prepare` refuses a
 * non-empty folder it did not make, replaces a POC only with --force and never while it runs; a
 * recorded PID now held by another program is never taken for ours (not "running", not stopped).
 * Stand-in processes are real: one whose command line names the server's kit (as `cohort start`'s
 * does) and one of another program.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openPoc, pocProcesses, preparePoc, stopPoc } from "../../src/runtime/poc/index.js";
import { tempDir, writeFile } from "../helpers/index.js";

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill("SIGKILL");
});

/** A live process whose argv is `args` (a node process idling for a minute at most). */
async function standIn(args: readonly string[]): Promise<ChildProcess> {
  const c = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)", ...args], { stdio: "ignore" });
  children.push(c);
  await new Promise((r, j) => c.once("spawn", r).once("error", j));
  return c;
}
const alive = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;
const recordPid = (ws: string, pid: number, kit: string): void =>
  writeFileSync(join(ws, "pids.json"), JSON.stringify({ processes: [{ name: "server", pid, kit, started: new Date().toISOString() }] }));

test("poc prepare refuses a non-empty folder that is not a POC workspace, and leaves it as it was", async () => {
  const dir = join(tempDir("cohort-poc-ws-"), "mine");
  writeFile(join(dir, "thesis.tex"), "do not delete");
  await assert.rejects(preparePoc({ workspace: dir, sites: 2 }), { code: "ERR_POC_WORKSPACE", message: /not empty and not a POC workspace/ });
  assert.equal(readFileSync(join(dir, "thesis.tex"), "utf8"), "do not delete");
  assert.equal(existsSync(join(dir, "poc.json")), false);
});

test("an existing POC is replaced only with --force, never while it runs; a reused PID of another program is not ours", { timeout: 60_000 }, async () => {
  const ws = join(tempDir("cohort-poc-ws-"), "poc");
  await preparePoc({ workspace: ws, sites: 2 });
  const { poc, kits } = openPoc(ws);
  await assert.rejects(preparePoc({ workspace: ws, sites: 2 }), { code: "ERR_POC_WORKSPACE", message: /already holds a POC; add --force/ });

  // "Running": a live process whose command line names the server's kit.
  const server = await standIn([kits["server"] ?? ""]);
  recordPid(ws, server.pid ?? 0, poc.server.kit);
  assert.deepEqual(
    pocProcesses(ws).map((p) => p.running),
    [true],
  );
  await assert.rejects(preparePoc({ workspace: ws, sites: 2, force: true }), { code: "ERR_POC_WORKSPACE", message: /the POC is running \(server pid \d+\)/ });
  assert.ok(existsSync(join(ws, "poc.json")), "nothing was deleted");

  // The recorded PID now belongs to another program: not ours, so not running, and stop leaves it alone.
  const other = await standIn(["--not-a-kit"]);
  recordPid(ws, other.pid ?? 0, poc.server.kit);
  assert.deepEqual(
    pocProcesses(ws).map((p) => p.running),
    [false],
  );
  const stopped = await stopPoc({ workspace: ws, graceMs: 1_000 });
  assert.deepEqual(
    stopped.map((s) => s.how),
    ["not running"],
  );
  assert.ok(alive(other), "the other program's process was not signalled");
  server.kill("SIGKILL");
  await new Promise((r) => server.once("exit", r));
  await preparePoc({ workspace: ws, sites: 2, force: true });
  assert.notEqual(openPoc(ws).poc.port, 0, "replaced with --force once nothing runs");
});
