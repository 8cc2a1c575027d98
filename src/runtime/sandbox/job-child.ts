/**
 * Entry of a job child process (started by JobChild under Node's permission model). It builds the
 * job's components from the app config and runs the server workflows or the site executors
 * (job-host.ts), talking only to its parent over IPC with the job token from its environment.
 */
import { CohortError, isCohortError } from "../../errors/index.js";
import { toChildSchema, type FromChild, type InitMessage } from "./child-protocol.js";
import { buildServerJob, buildSiteJob, type SiteJobHost } from "./job-host.js";
import { observeScriptProcesses } from "../client-api/script-process.js";
import { PeerErrorCode } from "../peer/errors.js";
import { RuntimeErrorCode } from "../jobs/errors.js";
import { PrivacyErrorCode } from "../../privacy/index.js";

type Distributive<T> = T extends unknown ? Omit<T, "token"> : never;

const token = process.env["COHORT_JOB_TOKEN"] ?? "";
const send = (m: Distributive<FromChild>): void => {
  process.send?.({ ...m, token });
};
const log = (line: string): void => send({ type: "log", level: "info", line });
observeScriptProcesses((event, pid) => send({ type: event === "started" ? "process.started" : "process.exited", pid }));
const warn = (line: string): void => send({ type: "log", level: "warn", line });

const abort = new AbortController();
const pendingTasks = new Map<string, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();
const pendingCharges = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
let chargeCounter = 0;
/** Privacy-budget charges go to the site process, which owns the ledger; it answers allowed or refused. */
const charge = (taskName: string, spend: { filter: string; epsilon: number; delta: number }): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    const chargeId = `${++chargeCounter}`;
    pendingCharges.set(chargeId, { resolve, reject });
    send({ type: "privacy.charge", chargeId, taskName, filter: spend.filter, epsilon: spend.epsilon, delta: spend.delta });
  });
let taskCounter = 0;
const pendingPeerSends = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
let peerSendCounter = 0;
/** Peer messages leave through the site process, which seals them for the peer (it holds the kit key). */
const peerSend = (to: string, topic: string, payload: Uint8Array, timeoutMs: number): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    const sendId = `${++peerSendCounter}`;
    pendingPeerSends.set(sendId, { resolve, reject });
    send({ type: "peer.send", sendId, to, topic, payload, timeoutMs });
  });
let siteJob: SiteJobHost | undefined;

async function start(init: InitMessage): Promise<void> {
  const io = { signal: abort.signal, log, warn, charge, outputLimit: (what: string) => send({ type: "output.limit", what: what.slice(0, 500) }) };
  if (init.role === "server") {
    const job = await buildServerJob(init, {
      ...io,
      sendTask(site, taskName, payload, timeoutMs) {
        const taskId = `${++taskCounter}`;
        return new Promise<Uint8Array>((resolve, reject) => {
          pendingTasks.set(`${taskId}@${site}`, { resolve, reject });
          send({ type: "task.send", taskId, site, taskName, payload, timeoutMs });
        });
      },
      progress(round, totalRounds, metrics, sites) {
        send({ type: "progress", round, totalRounds, metrics, sites: [...sites] });
      },
    });
    send({ type: "ready" });
    await job.run();
    send({ type: "done", status: abort.signal.aborted ? "FINISHED:ABORTED" : "FINISHED:COMPLETED" });
    return;
  }
  siteJob = await buildSiteJob(init, { ...io, peerSend });
  send({ type: "ready" });
}

function runTask(taskId: string, taskName: string, payload: Uint8Array): void {
  const ex = siteJob?.executorFor(taskName);
  if (!ex || !siteJob) {
    send({ type: "task.failed", taskId, code: RuntimeErrorCode.NoExecutor, message: `no executor for task ${taskName}` });
    return;
  }
  ex.execute(taskName, payload, siteJob.ctx).then(
    (result) => send({ type: "task.done", taskId, payload: result }),
    (err: Error) => send({ type: "task.failed", taskId, code: isCohortError(err) ? err.code : RuntimeErrorCode.TaskFailed, message: err.message }),
  );
}

function fail(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  send({ type: "log", level: "error", line: err instanceof Error ? (err.stack ?? message) : message });
  send({ type: "done", status: "FINISHED:EXECUTION_EXCEPTION", reason: message });
  setTimeout(() => process.exit(1), 100);
}

process.on("message", (raw: unknown) => {
  const parsed = toChildSchema.safeParse(raw);
  if (!parsed.success || parsed.data.token !== token) return;
  const m = parsed.data;
  switch (m.type) {
    case "init":
      start(m).catch(fail);
      break;
    case "task.run":
      runTask(m.taskId, m.taskName, m.payload);
      break;
    case "task.result":
    case "task.error": {
      const p = pendingTasks.get(`${m.taskId}@${m.site}`);
      pendingTasks.delete(`${m.taskId}@${m.site}`);
      if (m.type === "task.result") p?.resolve(m.payload);
      else p?.reject(new CohortError(m.code, m.message, { site: m.site }));
      break;
    }
    case "privacy.charged": {
      const p = pendingCharges.get(m.chargeId);
      pendingCharges.delete(m.chargeId);
      if (m.allowed) p?.resolve();
      else p?.reject(new CohortError(PrivacyErrorCode.Budget, m.reason ?? "privacy budget refused", {}));
      break;
    }
    case "peer.sent": {
      const p = pendingPeerSends.get(m.sendId);
      pendingPeerSends.delete(m.sendId);
      if (m.ok) p?.resolve();
      else p?.reject(new CohortError(m.code ?? PeerErrorCode.Send, m.message ?? "peer message not delivered", {}));
      break;
    }
    case "peer.message":
      try {
        if (!siteJob) throw new CohortError(PeerErrorCode.Unavailable, "the job is not ready for peer messages yet", {});
        siteJob.deliverPeer(m.from, m.topic, m.payload);
        send({ type: "peer.delivered", deliveryId: m.deliveryId, ok: true });
      } catch (err) {
        send({
          type: "peer.delivered",
          deliveryId: m.deliveryId,
          ok: false,
          code: isCohortError(err) ? err.code : PeerErrorCode.Delivery,
          message: (err as Error).message,
        });
      }
      break;
    case "abort":
      abort.abort(m.reason);
      for (const p of pendingTasks.values()) p.reject(new CohortError(RuntimeErrorCode.Aborted, m.reason, {}));
      for (const p of pendingCharges.values()) p.reject(new CohortError(RuntimeErrorCode.Aborted, m.reason, {}));
      for (const p of pendingPeerSends.values()) p.reject(new CohortError(RuntimeErrorCode.Aborted, m.reason, {}));
      send({ type: "done", status: "FINISHED:ABORTED", reason: m.reason });
      setTimeout(() => process.exit(0), 100);
      break;
  }
});
process.on("disconnect", () => process.exit(0));
process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);
