import { z } from "zod";
import { clientConfigSchema, serverConfigSchema } from "../jobs/definition.js";
import { budgetSchema, ckksContextSchema, filterSpecSchema } from "../../privacy/index.js";
import { bytesSchema } from "../../wire/index.js";

/**
 * Messages between a site process and its job child, over the child's private IPC channel
 * (advanced serialization: typed arrays travel as bytes). Every message carries the job-scoped
 * token the parent gave the child in its environment; anything else is ignored and logged.
 */
const bytes = bytesSchema();

export const initSchema = z.object({
  type: z.literal("init"),
  token: z.string(),
  role: z.enum(["server", "client"]),
  jobId: z.string(),
  jobName: z.string(),
  site: z.string(),
  /** The job's app folder (config/, custom/) and the writable run folder. */
  appDir: z.string(),
  runDir: z.string(),
  sites: z.array(z.string()),
  server: serverConfigSchema.optional(),
  client: clientConfigSchema.optional(),
  /** Resume from the last saved round (after a server restart). */
  resume: z.boolean().default(false),
  /** The site's privacy scope for this job (local/privacy.json): its filters run before the job's. */
  privacy: z
    .object({
      scope: z.string(),
      task_data_filters: z.array(filterSpecSchema),
      task_result_filters: z.array(filterSpecSchema),
      budget: budgetSchema.optional(),
    })
    .optional(),
  /** The site's CKKS client context, for the HE filters: only the simulator (in one process) passes it; sites never do. */
  he: ckksContextSchema.optional(),
  /**
   * The site process applies the site's scope filters and the job's HE filters (site-gate.ts): the
   * job host builds only the job's other filters. A job child never gets `privacy` or `he`.
   */
  gated: z.boolean().optional(),
});
export type InitMessage = z.infer<typeof initSchema>;

/** Parent → child. */
export const toChildSchema = z.discriminatedUnion("type", [
  initSchema,
  z.object({ type: z.literal("task.run"), token: z.string(), taskId: z.string(), taskName: z.string(), payload: bytes }),
  z.object({ type: z.literal("task.result"), token: z.string(), taskId: z.string(), site: z.string(), payload: bytes }),
  z.object({ type: z.literal("task.error"), token: z.string(), taskId: z.string(), site: z.string(), code: z.string(), message: z.string() }),
  z.object({ type: z.literal("abort"), token: z.string(), reason: z.string() }),
  /** The site's answer to a privacy-budget charge. */
  z.object({ type: z.literal("privacy.charged"), token: z.string(), chargeId: z.string(), allowed: z.boolean(), reason: z.string().optional() }),
  /** A message from another site of the job, opened (signature checked, decrypted) by the site process. */
  z.object({ type: z.literal("peer.message"), token: z.string(), deliveryId: z.string(), from: z.string(), topic: z.string(), payload: bytes }),
  /** The outcome of a `peer.send`. */
  z.object({
    type: z.literal("peer.sent"),
    token: z.string(),
    sendId: z.string(),
    ok: z.boolean(),
    code: z.string().optional(),
    message: z.string().optional(),
  }),
]);
export type ToChild = z.infer<typeof toChildSchema>;

/** Child → parent. */
export const fromChildSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready"), token: z.string() }),
  z.object({
    type: z.literal("task.send"),
    token: z.string(),
    taskId: z.string(),
    site: z.string(),
    taskName: z.string(),
    payload: bytes,
    timeoutMs: z.number().int().positive(),
  }),
  z.object({ type: z.literal("task.done"), token: z.string(), taskId: z.string(), payload: bytes }),
  z.object({ type: z.literal("task.failed"), token: z.string(), taskId: z.string(), code: z.string(), message: z.string() }),
  z.object({
    type: z.literal("progress"),
    token: z.string(),
    round: z.number().int(),
    totalRounds: z.number().int(),
    metrics: z.record(z.string(), z.number()),
    sites: z.array(z.string()),
  }),
  z.object({ type: z.literal("log"), token: z.string(), level: z.enum(["info", "warn", "error"]), line: z.string().max(4000) }),
  /** Output of job code (a script's) was cut by the job process: the site audits it once per job. */
  z.object({ type: z.literal("output.limit"), token: z.string(), what: z.string().max(500) }),
  /** A DP filter asks the site process to charge its spend to the site's budget ledger. */
  z.object({
    type: z.literal("privacy.charge"),
    token: z.string(),
    chargeId: z.string(),
    taskName: z.string(),
    filter: z.string(),
    epsilon: z.number().min(0),
    delta: z.number().min(0),
  }),
  /** Job code sends a message to another site: the site process seals it for that site and has the server relay it. */
  z.object({
    type: z.literal("peer.send"),
    token: z.string(),
    sendId: z.string(),
    to: z.string().max(200),
    topic: z.string().max(200),
    payload: bytes,
    timeoutMs: z.number().int().positive(),
  }),
  z.object({
    type: z.literal("peer.delivered"),
    token: z.string(),
    deliveryId: z.string(),
    ok: z.boolean(),
    code: z.string().max(100).optional(),
    message: z.string().max(2000).optional(),
  }),
  /** A script process the job child started (its own process group) or that ended. */
  z.object({ type: z.literal("process.started"), token: z.string(), pid: z.number().int().positive() }),
  z.object({ type: z.literal("process.exited"), token: z.string(), pid: z.number().int().positive() }),
  z.object({
    type: z.literal("done"),
    token: z.string(),
    status: z.enum(["FINISHED:COMPLETED", "FINISHED:EXECUTION_EXCEPTION", "FINISHED:ABORTED"]),
    reason: z.string().optional(),
  }),
]);
export type FromChild = z.infer<typeof fromChildSchema>;
