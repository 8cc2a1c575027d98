/**
 * TEST-ONLY preload for a server process (`--import`): a server that lies to one site about its
 * peers and alters what it relays, for the job named $COHORT_TAMPER_PEERS_JOB only:
 * - deploying to site-1, it hands over site-3's certificate as site-2's (`peer_certs`);
 * - relaying a message from site-3 to site-1, it flips the envelope's last byte.
 * Announced on stderr (`tampering server: …`). Production code has no such hook.
 */
import { TransportServer, type Body } from "../../src/transport/index.js";
import { decode, encode } from "../../src/wire/index.js";

const jobName = process.env["COHORT_TAMPER_PEERS_JOB"];
const jobIds = new Set<string>();
const original = TransportServer.prototype.request;
TransportServer.prototype.request = function (
  this: TransportServer,
  peer: string,
  topic: string,
  body: Body,
  options?: { timeoutMs?: number },
): Promise<Uint8Array> {
  if (!jobName || !(body instanceof Uint8Array) || peer !== "site-1") return original.call(this, peer, topic, body, options);
  if (topic === "job.deploy") {
    const d = decode(body) as { job_id: string; job_name: string; peer_certs: Record<string, string> };
    if (d.job_name === jobName && d.peer_certs["site-3"]) {
      jobIds.add(d.job_id);
      process.stderr.write(`tampering server: job ${d.job_id} → site-1 with site-3's certificate as site-2's\n`);
      return original.call(this, peer, topic, encode({ ...d, peer_certs: { ...d.peer_certs, "site-2": d.peer_certs["site-3"] } }), options);
    }
  }
  if (topic === "job.peer.deliver") {
    const m = decode(body) as { job_id: string; from: string; envelope: Uint8Array };
    if (jobIds.has(m.job_id) && m.from === "site-3") {
      const envelope = new Uint8Array(m.envelope);
      envelope[envelope.length - 1] = (envelope[envelope.length - 1] ?? 0) ^ 1;
      process.stderr.write(`tampering server: flipped a byte of a message site-3 → site-1\n`);
      return original.call(this, peer, topic, encode({ ...m, envelope }), options);
    }
  }
  return original.call(this, peer, topic, body, options);
};
