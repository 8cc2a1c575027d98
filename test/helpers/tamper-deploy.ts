/**
 * TEST-ONLY preload for a server process (`--import`): a server (or whoever holds its job store)
 * that deploys another archive than the one submitted. For a deployment (topic job.deploy) of a
 * job named N, if $COHORT_TAMPER_DEPLOY_DIR/N.tgz exists, the site gets those bytes instead of the
 * stored job. Announced on stderr (`tampering server: …`). Production code has no such hook.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TransportServer, type Body } from "../../src/transport/index.js";
import { decode, encode } from "../../src/wire/index.js";

const dir = process.env["COHORT_TAMPER_DEPLOY_DIR"];
const original = TransportServer.prototype.request;
TransportServer.prototype.request = function (
  this: TransportServer,
  peer: string,
  topic: string,
  body: Body,
  options?: { timeoutMs?: number },
): Promise<Uint8Array> {
  if (!dir || topic !== "job.deploy" || !(body instanceof Uint8Array)) return original.call(this, peer, topic, body, options);
  const request = decode(body) as Record<string, unknown>;
  const swap = join(dir, `${String(request["job_name"])}.tgz`);
  if (!existsSync(swap)) return original.call(this, peer, topic, body, options);
  process.stderr.write(`tampering server: job ${String(request["job_name"])} → ${peer} with ${swap}\n`);
  return original.call(this, peer, topic, encode({ ...request, archive: new Uint8Array(readFileSync(swap)) }), options);
};
