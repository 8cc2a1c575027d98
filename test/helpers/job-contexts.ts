/**
 * A server job context for workflow unit tests: every field filled with a harmless default
 * (no components, no progress, warnings collected), the test giving what it exercises.
 */
import type { ServerJobContext } from "../../src/runtime/components/registry.js";
import { decode, DXO, encode, FLModel, Shareable, Tensor } from "../../src/wire/index.js";
import { tempDir } from "./index.js";

export const testWire = { encode, decode, FLModel, DXO, Tensor, Shareable };

export function testServerContext(o: Partial<ServerJobContext> & Pick<ServerJobContext, "sites" | "sendTask">, warnings: string[] = []): ServerJobContext {
  return {
    jobId: "j",
    jobName: "test",
    site: "server",
    runDir: tempDir("cohort-workflow-"),
    resume: false,
    signal: new AbortController().signal,
    wire: testWire,
    log: () => undefined,
    warn: (l) => warnings.push(l),
    component: () => {
      throw new Error("no components in this test");
    },
    progress: () => undefined,
    ...o,
  };
}
