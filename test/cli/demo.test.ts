/**
 * `cohort demo` (what `npm run demo` runs): a real federation of separate processes over mTLS that
 * trains on Fashion-MNIST, reports accuracy per round, and stops everything it started.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../helpers/index.js";

test("cohort demo runs FedAvg with a server and 3 sites, prints each round's accuracy, exits 0", { timeout: 180_000 }, async () => {
  const r = await runCli(["demo"], {}, { timeoutMs: 170_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /provisioned 5 kits \(root CA SHA256:([0-9A-F]{2}:){31}[0-9A-F]{2}\)/);
  assert.match(r.stdout, /server and 3 sites running as separate processes, connected over mTLS/);
  assert.match(r.stdout, /submitted hello-fedavg with 'cohort admin': job [0-9a-f-]{36}/);
  // Which data the figures come from, said before the rounds (Debian's dataset when installed, else the bundled subset).
  assert.match(r.stdout, /^data: (Fashion-MNIST from Debian's dataset-fashion-mnist|bundled Fashion-MNIST subset) .*\nround 1\/5/m);
  // Not a TTY here: one line per round.
  const rounds = [...r.stdout.matchAll(/^round (\d)\/5 accuracy (0\.\d{3})$/gm)].map((m) => Number(m[2]));
  assert.equal(rounds.length, 5, r.stdout);
  assert.ok((rounds.at(-1) ?? 0) >= 0.75, `final accuracy ${rounds.at(-1)}`);
  assert.match(r.stdout, /job FINISHED:COMPLETED/);
  assert.match(r.stdout, /global model: .*global_model\.cohort/);
  assert.match(r.stdout, /audit trails: .*audit\.log/);
  assert.match(r.stdout, /temporary workspace removed/);
});
