import { z } from "zod";
import { CohortError, isCohortError } from "../../errors/index.js";
import { decode, encode, bytesSchema } from "../../wire/index.js";
import type { AuditLog } from "../../audit/index.js";
import type { MessageMeta, TransportServer } from "../../transport/index.js";
import { peekPeerMessageHeader } from "../../auth/index.js";
import { TOPIC_JOB_PEER_DELIVER } from "../participant/topics.js";
import { RuntimeErrorCode } from "../jobs/errors.js";

/** A relayed peer message's wait is bounded whatever the sender asks. */
const MAX_PEER_RELAY_MS = 3_600_000;

const peerRelaySchema = z.object({
  job_id: z.string().uuid(),
  to: z.string().max(200),
  envelope: bytesSchema(),
  timeout_ms: z.number().int().positive().default(600_000),
});

/** What the relay needs to know of a running job: who takes part, and whether it is over. */
export interface RelayJob {
  readonly sites: readonly string[];
  readonly ended: boolean;
}

export interface PeerRelayContext {
  readonly transport: TransportServer;
  readonly audit: AuditLog;
  /** The running job with this id, if any. */
  readonly runningJob: (jobId: string) => RelayJob | undefined;
}

/** Bytes that are not valid wire data read as nothing: the schema check then refuses them (with an audit line). */
function decodeOrUndefined(body: Uint8Array): unknown {
  try {
    return decode(body);
  } catch {
    return undefined;
  }
}

/**
 * Relays a sealed message between two sites of a running job (swarm learning). The server sees
 * who, which job, the topic and the size — it audits those — but not the content: the envelope
 * is encrypted for the recipient and signed by the sender (src/auth/peer-envelope.ts).
 */
export async function relayPeerMessage(ctx: PeerRelayContext, body: Uint8Array, meta: MessageMeta): Promise<Uint8Array> {
  const parsed = peerRelaySchema.safeParse(decodeOrUndefined(body));
  const from = meta.sender;
  const refuse = (job: string | undefined, reason: string): never => {
    ctx.audit.append({ action: "peer.relay", outcome: "denied", peer: from, ...(job ? { job } : {}), code: RuntimeErrorCode.PeerRelay, reason });
    throw new CohortError(RuntimeErrorCode.PeerRelay, `peer message from ${from} not relayed: ${reason}`, { from });
  };
  if (!parsed.success) return refuse(undefined, "not a peer relay request (job_id, to, envelope)");
  const r = parsed.data;
  const job = ctx.runningJob(r.job_id);
  if (!job || job.ended) return refuse(r.job_id, `job ${r.job_id} is not running`);
  if (meta.peer?.type !== "client" || !job.sites.includes(from)) return refuse(r.job_id, `${from} is not a site of job ${r.job_id}`);
  if (!job.sites.includes(r.to) || r.to === from) return refuse(r.job_id, `${r.to} is not another site of job ${r.job_id}`);
  let topic = "?";
  try {
    const h = peekPeerMessageHeader(r.envelope);
    // The recipient checks the signed header anyway; refusing here keeps junk off the link and the audit honest.
    if (h.job !== r.job_id || h.to !== r.to || h.from !== from)
      return refuse(r.job_id, `the envelope is addressed ${h.from} → ${h.to} in job ${h.job}, not ${from} → ${r.to} in job ${r.job_id}`);
    topic = h.topic;
  } catch (err) {
    if (isCohortError(err, RuntimeErrorCode.PeerRelay)) throw err;
    return refuse(r.job_id, "the envelope is not a sealed peer message");
  }
  const relayed = ctx.audit.append({
    action: "peer.relay",
    outcome: "ok",
    job: r.job_id,
    peer: r.to,
    reason: `${from} → ${r.to}: ${topic} (as the sender labels it), ${r.envelope.byteLength} bytes sealed`,
  });
  try {
    await ctx.transport.request(r.to, TOPIC_JOB_PEER_DELIVER, encode({ job_id: r.job_id, from, envelope: r.envelope, audit_ref: relayed }), {
      timeoutMs: Math.min(r.timeout_ms, MAX_PEER_RELAY_MS),
    });
  } catch (err) {
    ctx.audit.append({
      action: "peer.relay",
      outcome: "error",
      job: r.job_id,
      peer: r.to,
      ref: relayed,
      code: isCohortError(err) ? err.code : RuntimeErrorCode.PeerRelay,
      reason: (err as Error).message,
    });
    throw err;
  }
  return encode({ ok: true });
}
