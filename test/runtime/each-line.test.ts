/** eachLine, the one line splitter for process output (script stdout/stderr, the demo's sites). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { eachLine } from "../../src/runtime/sandbox/index.js";

function run(chunks: string[], o: Parameters<typeof eachLine>[2] = {}): Promise<{ lines: string[]; cuts: string[] }> {
  const s = new PassThrough();
  const lines: string[] = [];
  const cuts: string[] = [];
  eachLine(s, (l) => lines.push(l), { ...o, onCut: (w) => cuts.push(w) });
  for (const c of chunks) s.write(c);
  s.end();
  return new Promise((r) => s.on("end", () => r({ lines, cuts })));
}

test("lines split across chunks arrive whole; the unterminated rest arrives at the end", async () => {
  const r = await run(["a", "b\nc", "d\n\ne", "f"]);
  assert.deepEqual(r.lines, ["ab", "cd", "", "ef"]);
  assert.deepEqual(r.cuts, []);
});

test("with bounds: a line at the limit passes whole, one past it is cut and reported; endless text is flushed at the pending bound", async () => {
  const r = await run([`${"x".repeat(8)}\n`, `${"y".repeat(9)}\n`, "z".repeat(40)], { maxLineChars: 8, maxPendingChars: 32 });
  assert.deepEqual(r.lines, ["x".repeat(8), "y".repeat(8), "z".repeat(8)]);
  assert.deepEqual(r.cuts, ["a line longer than 8 characters", "more than 32 characters without a newline"]);
});
