/**
 * What hello-swarm-cse's cross-site matrix must hold, wherever it ran (simulator or federation):
 * every site evaluated the final model and every site's own, with a sensible accuracy; and the
 * final model, evaluated where it is, gives the swarm's last round figure (it is the model the swarm made).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export function assertSwarmCseMatrix(runDir: string, sites: readonly string[], finalAt: string, lastRoundAccuracy: number | undefined): void {
  const matrix = JSON.parse(readFileSync(join(runDir, "cross_site_val", "cross_val_results.json"), "utf8")) as Record<
    string,
    Record<string, { accuracy?: number }>
  >;
  assert.deepEqual(Object.keys(matrix), sites);
  for (const s of sites) {
    assert.deepEqual(Object.keys(matrix[s] ?? {}), ["GLOBAL_global_model", ...sites]);
    for (const cell of Object.values(matrix[s] ?? {})) assert.ok((cell.accuracy ?? 0) > 0.5, JSON.stringify(matrix[s]));
  }
  assert.equal(matrix[finalAt]?.["GLOBAL_global_model"]?.accuracy, lastRoundAccuracy);
}
