/**
 * Peer messages at a site: sealed here for another site of the job (its certificate, our kit key)
 * and relayed by the server, which can neither read nor forge them; opened here only when sealed
 * for us by a verified peer of the job, fresh and never seen. The kit key stays in this process:
 * job children only ever see plaintext that passed the site's gate.
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import { z } from "zod";
import { CohortError, isCohortError } from "../../errors/index.js";
import { decode, encode, bytesSchema } from "../../wire/index.js";
import type { AuditLog } from "../../audit/index.js";
import type { TransportClient } from "../../transport/index.js";
import { NonceCache, openPeerMessage, sealPeerMessage, verifyPeerCertificate } from "../../auth/index.js";
import { TOPIC_JOB_PEER } from "../participant/topics.js";
import { RuntimeErrorCode } from "../jobs/errors.js";
import type { SiteSecurityOptions } from "./security.js";
import type { SiteJobRun } from "./site-job-run.js";

const peerDeliverySchema = z.object({
  job_id: z.string().uuid(),
  from: z.string().max(200),
  envelope: bytesSchema(),
  audit_ref: z.string().max(200).optional(),
});
/** A sealed peer message is accepted within this much of its sealing time (then its id is remembered). */
const PEER_SKEW_MS = 5 * 60_000;

/** One job's peers at this site. */
export interface JobPeers {
  /** Peers' certificates that chained to our root with CN = their site name. */
  readonly certs: Map<string, string>;
  /** Ids of the messages opened for this job (replays are refused). */
  readonly nonces: NonceCache;
}

export interface SitePeerMessagesOptions {
  readonly site: string;
  /** Read at each check (its root certificate is the one peers' certificates must chain to). */
  readonly security: SiteSecurityOptions;
  readonly audit: AuditLog;
  readonly log: (line: string) => void;
  readonly keyPem: string | undefined;
  /** The job's current run at this site, looked up when a message goes out or comes in (the job may have ended meanwhile). */
  readonly runOf: (jobId: string) => SiteJobRun | undefined;
}

export class SitePeerMessages {
  private readonly kitKey: KeyObject | undefined;

  constructor(
    private readonly transport: TransportClient,
    private readonly o: SitePeerMessagesOptions,
  ) {
    // The site's kit key seals and opens peer messages; it stays in this process (never the job child's).
    this.kitKey = o.keyPem ? createPrivateKey(o.keyPem) : undefined;
  }

  /** The job's peers' certificates that chain to our root with the right name; others are left out (and said why). */
  checkPeerCertificates(jobId: string, sites: readonly string[], peerCerts: Readonly<Record<string, string>>): JobPeers {
    const out = new Map<string, string>();
    for (const [site, pem] of Object.entries(peerCerts)) {
      if (site === this.o.site || !sites.includes(site)) continue;
      try {
        verifyPeerCertificate(pem, this.o.security.rootPem, { name: site, type: "client" });
        out.set(site, pem);
      } catch (err) {
        this.o.audit.append({
          action: "peer.certificate",
          outcome: "denied",
          job: jobId,
          peer: site,
          code: isCohortError(err) ? err.code : RuntimeErrorCode.PeerRefused,
          reason: (err as Error).message,
        });
        this.o.log(`job ${jobId}: ${site}'s certificate from the server is not usable for peer messages: ${(err as Error).message}`);
      }
    }
    return { certs: out, nonces: new NonceCache(PEER_SKEW_MS) };
  }

  /** Seals a message from this site's job for another site (its certificate, our kit key) and has the server relay it. */
  async sendPeerMessage(jobId: string, to: string, topic: string, payload: Uint8Array, timeoutMs: number): Promise<void> {
    const job = this.o.runOf(jobId);
    const cert = job?.peers.certs.get(to);
    if (!job || !cert || !this.kitKey)
      throw new CohortError(
        RuntimeErrorCode.PeerRefused,
        `${this.o.site} cannot seal a message for ${to}: ${!this.kitKey ? "this site has no kit key loaded" : `no verified certificate for ${to} in job ${jobId}`}`,
        { to },
      );
    const envelope = sealPeerMessage({ job: jobId, from: this.o.site, to, topic, payload, senderKey: this.kitKey, recipientCertPem: cert });
    await this.transport.request(TOPIC_JOB_PEER, encode({ job_id: jobId, to, envelope, timeout_ms: timeoutMs }), { timeoutMs });
    this.o.audit.append({ action: "peer.sent", outcome: "ok", job: jobId, peer: to, reason: `${topic}: ${payload.byteLength} bytes, sealed for ${to}` });
  }

  /** A message relayed by the server: opened only if sealed for us by a peer of the job, fresh and never seen. */
  async receivePeerMessage(body: Uint8Array): Promise<Uint8Array> {
    let r: z.infer<typeof peerDeliverySchema>;
    try {
      r = peerDeliverySchema.parse(decode(body));
    } catch {
      this.o.audit.append({
        action: "peer.received",
        outcome: "denied",
        code: RuntimeErrorCode.PeerRefused,
        reason: "not a peer message delivery (job_id, from, envelope)",
      });
      throw new CohortError(RuntimeErrorCode.PeerRefused, `${this.o.site}: not a peer message delivery`, {});
    }
    const job = this.o.runOf(r.job_id);
    try {
      if (!job) throw new CohortError(RuntimeErrorCode.JobNotFound, `job ${r.job_id} is not running at ${this.o.site}`, { jobId: r.job_id });
      const cert = job.peers.certs.get(r.from);
      if (!cert || !this.kitKey)
        throw new CohortError(RuntimeErrorCode.PeerRefused, `${this.o.site} has no verified certificate for ${r.from} in job ${r.job_id}`, { from: r.from });
      const opened = openPeerMessage(r.envelope, {
        job: r.job_id,
        me: this.o.site,
        from: r.from,
        senderCertPem: cert,
        recipientKey: this.kitKey,
        nonces: job.peers.nonces,
        skewMs: PEER_SKEW_MS,
      });
      await job.deliverPeerMessage(r.from, opened.header.topic, opened.payload);
      this.o.audit.append({
        action: "peer.received",
        outcome: "ok",
        job: r.job_id,
        peer: r.from,
        ...(r.audit_ref ? { ref: r.audit_ref } : {}),
        reason: `${opened.header.topic}: ${opened.payload.byteLength} bytes from ${r.from}`,
      });
      return encode({ ok: true });
    } catch (err) {
      this.o.audit.append({
        action: "peer.received",
        outcome: "denied",
        job: r.job_id,
        peer: r.from,
        ...(r.audit_ref ? { ref: r.audit_ref } : {}),
        code: isCohortError(err) ? err.code : RuntimeErrorCode.PeerRefused,
        reason: (err as Error).message,
      });
      throw err;
    }
  }
}
