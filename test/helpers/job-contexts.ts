/**
 * Job contexts for component unit tests: every field filled with a harmless default (no
 * components, no progress, no peers, warnings collected), the test giving what it exercises.
 */
import type { ClientJobContext, ServerJobContext } from "../../src/runtime/components/registry.js";
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

/** A site's job context (site-2 of site-1, site-2) whose run folder is `runDir`. */
export function testSiteContext(o: Partial<ClientJobContext> & Pick<ClientJobContext, "runDir">): ClientJobContext {
  return {
    jobId: "0b6c2c55-5a4f-4a43-8f8e-1f2d3c4b5a69",
    jobName: "test",
    site: "site-2",
    sites: ["site-1", "site-2"],
    signal: new AbortController().signal,
    peers: { send: () => Promise.reject(new Error("no peers in this test")), receive: () => Promise.reject(new Error("no peers in this test")) },
    runTask: () => Promise.reject(new Error("no local tasks in this test")),
    wire: testWire,
    log: () => undefined,
    warn: () => undefined,
    component: () => {
      throw new Error("no components in this test");
    },
    ...o,
  };
}
