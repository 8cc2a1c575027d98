/**
 * Swarm learning (issue 7) with real processes over mTLS: a server and three sites started with
 * `cohort start`, hello-swarm submitted with `cohort admin`. Each round a random site aggregates;
 * updates and models go site to site sealed for the recipient and relayed by the server, which is
 * started with a test-only preload that captures every relayed message. The job completes and
 * learns; the server's workspace and job store hold no model weights (searched byte for byte); a
 * captured message does not open without the recipient's key, and opens with it.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decode, encode, FLModel } from "../../src/wire/index.js";
import { driverFor, TransportClient } from "../../src/transport/index.js";
import { NonceCache, openPeerMessage, peekPeerMessageHeader } from "../../src/auth/index.js";
import { isCohortError } from "../../src/errors/index.js";
import { REPO_ROOT, tempDir } from "../helpers/index.js";
import { startFederation, stopFederation } from "../helpers/federation.js";
import { adminCli, JobWatcher, type CohortProcess } from "../helpers/processes.js";

const SITES = ["site-1", "site-2", "site-3"];
const ADMIN = "admin@nvidia.com";
let dir = "";
let prodDir = "";
let captureDir = "";
let server: CohortProcess;
const sites = new Map<string, CohortProcess>();
const kit = (n: string): string => join(prodDir, n);
const watcher = new JobWatcher(() => kit(ADMIN), () => `server:\n${server.output.slice(-3000)}\nsites:\n${[...sites.values()].map((p) => p.output.slice(-1500)).join("\n")}`);

/** Every file under `root` (following symbolic links). */
function files(root: string): string[] {
  return readdirSync(root).flatMap((name) => {
    const p = join(root, name);
    const st = statSync(p);
    return st.isDirectory() ? files(p) : st.isFile() ? [p] : [];
  });
}

/** Byte windows of a model's weights (32 bytes = 8 float32 values, none zero) to search for. */
function weightWindows(params: Record<string, Float32Array>): Buffer[] {
  const out: Buffer[] = [];
  for (const v of Object.values(params)) {
    for (const from of [0, 1, 2, 3, 4, 5].map((k) => Math.floor((k * v.length) / 6))) {
      // The first run of 8 non-zero values from `from` (pixels at the image border never train).
      for (let i = from; i + 8 <= v.length; i++) {
        const w = v.subarray(i, i + 8);
        if (w.every((x) => x !== 0)) {
          out.push(Buffer.from(w.buffer, w.byteOffset, w.byteLength));
          break;
        }
      }
    }
  }
  return out;
}

before(async () => {
  captureDir = tempDir("cohort-swarm-capture-");
  const fed = await startFederation({
    project: "swarm_test",
    sites: SITES,
    idleSites: ["site-9"],
    admin: ADMIN,
    server: { env: { COHORT_TEST_CAPTURE_DIR: captureDir }, preloads: ["./test/helpers/capture-peer-relay.ts"] },
  });
  ({ dir, prodDir, server } = fed);
  for (const [name, p] of fed.sites) sites.set(name, p);
});

after(() => stopFederation(server, sites.values(), watcher));

describe("swarm learning in a real federation", () => {
  let jobId = "";
  let finalAt = "";

  test("hello-swarm completes, learns, and its final model is only at the last round's aggregator", { timeout: 150_000 }, async () => {
    const r = await adminCli(kit(ADMIN), `submit_job ${join(REPO_ROOT, "examples", "jobs", "hello-swarm")}`, 60_000);
    assert.equal(r.code, 0, r.text);
    jobId = String(r.json["job_id"]);
    const meta = await watcher.wait(jobId, (s) => s.startsWith("FINISHED:"), 120_000);
    assert.equal(meta["status"], "FINISHED:COMPLETED", String(meta["status_reason"]));
    const rounds = meta["rounds"] as { round: number; metrics: Record<string, number>; sites: string[] }[];
    assert.equal(rounds.length, 3);
    console.log(`hello-swarm accuracy by round (at each round's aggregator): ${rounds.map((x) => x.metrics["accuracy"]?.toFixed(4)).join(", ")}`);
    assert.ok((rounds.at(-1)?.metrics["accuracy"] ?? 0) >= 0.72, JSON.stringify(rounds));
    for (const x of rounds) assert.deepEqual(x.sites, SITES, "every site's update went into every round");
    const line = await server.waitFor(/swarm: the final model is at (site-\d)/);
    finalAt = /at (site-\d)/.exec(line)?.[1] ?? "";
    const finalFile = join(kit(finalAt), "workspace", "jobs", jobId, "workspace", "models", "final_metrics.json");
    assert.ok(existsSync(finalFile), `${finalAt} keeps the final model and its metrics`);
    for (const s of SITES.filter((x) => x !== finalAt)) assert.ok(!existsSync(join(kit(s), "workspace", "jobs", jobId, "workspace", "models", "final_metrics.json")), `${s} has no final model`);
    // Every peer message was relayed and audited at the server without its content.
    const audit = readFileSync(join(kit("localhost"), "audit.log"), "utf8");
    assert.match(audit, /peer\.relay[\s\S]*swarm\.update\.0\.0 \(as the sender labels it\), \d+ bytes sealed/);
  });

  test("the server's workspace and job store contain no model weights", { timeout: 60_000 }, () => {
    assert.ok(jobId, "needs the swarm job");
    // Every model the sites hold for the job (the final one and earlier rounds' at their aggregators).
    const models = SITES.flatMap((s) => {
      const f = join(kit(s), "workspace", "jobs", jobId, "workspace", "models", "global_model.cohort");
      return existsSync(f) ? [decode(readFileSync(f))] : [];
    }).filter((m): m is FLModel => m instanceof FLModel);
    assert.ok(models.length >= 1);
    const windows = models.flatMap((m) => weightWindows(m.params as Record<string, Float32Array>));
    assert.ok(windows.length >= 6, "enough weight fragments to search for");
    // Control: the same search finds them where they are (the search would see weights if the server had any).
    const siteFiles = files(join(kit(finalAt), "workspace", "jobs", jobId));
    assert.ok(windows.some((w) => siteFiles.some((f) => readFileSync(f).indexOf(w) >= 0)), "the search finds weights at the aggregator");
    const serverFiles = files(kit("localhost"));
    assert.ok(serverFiles.some((f) => f.includes(jobId)), `the job store has the job (${serverFiles.length} files under ${kit("localhost")})`);
    let scanned = 0;
    for (const f of serverFiles) {
      if (statSync(f).size > 256 * 1024 * 1024) continue;
      const bytes = readFileSync(f);
      scanned += bytes.byteLength;
      for (const w of windows) assert.equal(bytes.indexOf(w), -1, `${f} contains model weights`);
      const text = bytes.toString("latin1");
      for (const w of windows) assert.ok(!text.includes(w.toString("base64")), `${f} contains model weights (base64)`);
    }
    console.log(`searched ${serverFiles.length} server files (${(scanned / 1024).toFixed(0)} KiB) for ${windows.length} weight fragments: none found`);
    // The relayed messages themselves carry no plaintext weights either.
    for (const f of files(captureDir)) for (const w of windows) assert.equal(readFileSync(f).indexOf(w), -1, `${f} (a relayed message) contains plaintext weights`);
  });

  test("hostile relay requests are refused with an audit line at the server, which keeps serving", { timeout: 60_000 }, async () => {
    assert.ok(jobId, "needs the swarm job");
    // site-9 is a genuine site of the project (its own kit) but not of this job.
    const k = (f: string): string => readFileSync(join(kit("site-9"), "startup", f), "utf8");
    const cfg = JSON.parse(k("fed_client.json")) as { servers: { service: { target: string; scheme: "grpc" | "http" | "tcp" } }[]; client: { connection_security: "clear" | "tls" | "mtls" } };
    const srv = cfg.servers[0];
    assert.ok(srv);
    const port = Number(srv.service.target.split(":").at(-1));
    const client = new TransportClient({ name: "site-9", type: "client", project: "swarm_test", certPem: k("client.crt"), keyPem: k("client.key"), rootPem: k("rootCA.pem"), serverName: "localhost", driver: driverFor(srv.service.scheme), host: "127.0.0.1", port, security: cfg.client.connection_security });
    await client.start();
    try {
      const captured = files(captureDir).map((f) => decode(readFileSync(f)) as { envelope: Uint8Array });
      const envelope = captured[0]?.envelope ?? new Uint8Array();
      const ask = (body: unknown) => client.request("job.peer", encode(body), { timeoutMs: 10_000 });
      await assert.rejects(ask({ nonsense: true }), /not relayed: not a peer relay request/);
      await assert.rejects(client.request("job.peer", new Uint8Array([0xc1, 0xff, 0x00]), { timeoutMs: 10_000 }), /not relayed: not a peer relay request/, "bytes that are not wire data");
      await assert.rejects(ask({ job_id: jobId, to: "site-1", envelope }), /not relayed: job .* is not running/);
      await assert.rejects(ask({ job_id: "0b6c2c55-5a4f-4a43-8f8e-1f2d3c4b5a69", to: "site-1", envelope: new Uint8Array([1, 2, 3]) }), /not relayed: job .* is not running/);
    } finally {
      await client.stop();
    }
    const denied = readFileSync(join(kit("localhost"), "audit.log"), "utf8").split("\n").filter((l) => l.includes('"peer.relay"') && l.includes('"denied"'));
    assert.ok(denied.length >= 4, `denied relay lines: ${denied.length}`);
    assert.ok(denied.every((l) => l.includes("site-9")));
    const r = await adminCli(kit(ADMIN), "check_status server", 30_000);
    assert.equal(r.code, 0, "the server still answers");
  });

  test("a captured relayed message does not open without the recipient's key, and opens with it", { timeout: 30_000 }, () => {
    const captured = files(captureDir).map((f) => decode(readFileSync(f)) as { job_id: string; from: string; envelope: Uint8Array });
    const model = captured.find((c) => peekPeerMessageHeader(c.envelope).topic.startsWith("swarm.model."));
    assert.ok(model, `a relayed model among ${captured.length} captured messages`);
    const h = peekPeerMessageHeader(model.envelope);
    const open = (keyOf: string) =>
      openPeerMessage(model.envelope, {
        job: h.job,
        me: h.to,
        from: h.from,
        senderCertPem: readFileSync(join(kit(h.from), "startup", "client.crt"), "utf8"),
        recipientKey: readFileSync(join(kit(keyOf), "startup", keyOf === "localhost" ? "server.key" : "client.key"), "utf8"),
        nonces: new NonceCache(60_000),
        skewMs: 60_000,
        now: h.ts,
      });
    const others = [...SITES.filter((s) => s !== h.to && s !== h.from), "localhost"];
    for (const k of others) assert.throws(() => open(k), (e: unknown) => isCohortError(e, "ERR_AUTH_BAD_MAC"), `${k}'s key does not open a message for ${h.to}`);
    const opened = decode(open(h.to).payload);
    assert.ok(opened instanceof FLModel, "the recipient's key opens it: the capture is a real model");
    assert.ok(Object.values(opened.params).every((v) => v instanceof Float32Array && v.length > 0));
  });
  test("a site killed mid-job: the server tells the aggregator, the rounds go on with the others without waiting out peer_timeout", { timeout: 150_000 }, async () => {
    const folder = join(dir, "jobs", "swarm-killed-site");
    cpSync(join(REPO_ROOT, "examples", "jobs", "hello-swarm"), folder, { recursive: true });
    const edit = (file: string, change: (j: Record<string, unknown>) => void): void => {
      const path = join(folder, file);
      const j = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
      change(j);
      writeFileSync(path, JSON.stringify(j));
    };
    edit("meta.json", (m) => Object.assign(m, { name: "swarm-killed-site" }));
    edit("app/config/config_fed_server.json", (c) => Object.assign((c["workflows"] as { args: Record<string, unknown> }[])[0]?.args ?? {}, { num_rounds: 4, aggr_clients: ["site-1", "site-2"] }));
    edit("app/config/config_fed_client.json", (c) => Object.assign((c["executors"] as { executor: { args: Record<string, unknown> } }[])[1]?.executor.args ?? {}, { peer_timeout: 600 }));
    const r = await adminCli(kit(ADMIN), `submit_job ${folder}`, 60_000);
    assert.equal(r.code, 0, r.text);
    const id = String(r.json["job_id"]);
    await watcher.wait(id, (_s, m) => ((m["rounds"] as unknown[] | undefined)?.length ?? 0) >= 1, 90_000);
    const killedAt = Date.now();
    sites.get("site-3")?.kill();
    const meta = await watcher.wait(id, (s) => s.startsWith("FINISHED:"), 120_000);
    assert.equal(meta["status"], "FINISHED:COMPLETED", String(meta["status_reason"]));
    const seconds = (Date.now() - killedAt) / 1000;
    assert.ok(seconds < 90, `finished ${seconds.toFixed(1)} s after the kill (peer_timeout is 600 s)`);
    const rounds = meta["rounds"] as { round: number; sites: string[] }[];
    assert.equal(rounds.length, 4);
    assert.deepEqual(rounds.at(-1)?.sites, ["site-1", "site-2"], "the last rounds aggregate the two live sites");
    assert.match(server.output, /swarm round \d: site-3 failed/);
  });
});
