/**
 * Swarm learning (issue 7) with real processes over mTLS: a server and three sites started with
 * `cohort start`, hello-swarm-cse submitted with `cohort admin`. Each round a random site aggregates;
 * updates and models (and then cross-site evaluation's models, from their owner to each evaluator)
 * go site to site sealed for the recipient and relayed by the server, which is
 * started with a test-only preload that captures every relayed message. The job completes and
 * learns; the server's workspace and job store hold no model weights (searched byte for byte); a
 * captured message does not open without the recipient's key, and opens with it. While a job runs
 * (asserted), the relay refuses requests from a site outside the job, for a recipient outside it,
 * and envelopes addressed to another job, sender or recipient; a server that hands a site a wrong
 * peer certificate or alters a relayed message is caught by the site (peer.certificate,
 * peer.received denials).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decode, encode, FLModel } from "../../src/wire/index.js";
import { driverFor, TransportClient } from "../../src/transport/index.js";
import { NonceCache, openPeerMessage, peekPeerMessageHeader, sealPeerMessage } from "../../src/auth/index.js";
import { TOPIC_JOB_DEPLOY, TOPIC_JOB_PEER, TOPIC_JOB_RESOURCES, TOPIC_JOB_TASK } from "../../src/runtime/participant/topics.js";
import { isCohortError } from "../../src/errors/index.js";
import { REPO_ROOT, tempDir } from "../helpers/index.js";
import { startFederation, stopFederation } from "../helpers/federation.js";
import { assertSwarmCseMatrix } from "../helpers/swarm-cse.js";
import { adminCli, auditRecords, JobWatcher, type CohortProcess } from "../helpers/processes.js";

const SITES = ["site-1", "site-2", "site-3"];
/** The job the server's tampering preload lies about (test/helpers/tamper-peer-traffic.ts). */
const TAMPERED_JOB = "swarm-tampered-peers";
const ADMIN = "admin@nvidia.com";
let dir = "";
let prodDir = "";
let captureDir = "";
let server: CohortProcess;
const sites = new Map<string, CohortProcess>();
const kit = (n: string): string => join(prodDir, n);
const watcher = new JobWatcher(
  () => kit(ADMIN),
  () => `server:\n${server.output.slice(-3000)}\nsites:\n${[...sites.values()].map((p) => p.output.slice(-1500)).join("\n")}`,
);

const startupFile = (site: string, f: string): string => readFileSync(join(kit(site), "startup", f), "utf8");

/** A site session the test drives itself (an idle site's own kit). */
function siteClient(name: string): TransportClient {
  const cfg = JSON.parse(startupFile(name, "fed_client.json")) as {
    servers: { service: { target: string; scheme: "grpc" | "http" | "tcp" } }[];
    client: { connection_security: "clear" | "tls" | "mtls" };
  };
  const srv = cfg.servers[0];
  assert.ok(srv);
  const port = Number(srv.service.target.split(":").at(-1));
  return new TransportClient({
    name,
    type: "client",
    project: "swarm_test",
    certPem: startupFile(name, "client.crt"),
    keyPem: startupFile(name, "client.key"),
    rootPem: startupFile(name, "rootCA.pem"),
    serverName: "localhost",
    driver: driverFor(srv.service.scheme),
    host: "127.0.0.1",
    port,
    security: cfg.client.connection_security,
  });
}

/** hello-swarm with changes to its server workflow's args, under another name. */
function swarmJob(name: string, args: Record<string, unknown>, clientArgs: Record<string, unknown> = {}): string {
  const folder = join(dir, "jobs", name);
  cpSync(join(REPO_ROOT, "examples", "jobs", "hello-swarm"), folder, { recursive: true });
  const edit = (file: string, change: (j: Record<string, unknown>) => void): void => {
    const path = join(folder, file);
    const j = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    change(j);
    writeFileSync(path, JSON.stringify(j));
  };
  edit("meta.json", (m) => Object.assign(m, { name }));
  edit("app/config/config_fed_server.json", (c) => Object.assign((c["workflows"] as { args: Record<string, unknown> }[])[0]?.args ?? {}, args));
  edit("app/config/config_fed_client.json", (c) =>
    Object.assign((c["executors"] as { executor: { args: Record<string, unknown> } }[])[1]?.executor.args ?? {}, clientArgs),
  );
  return folder;
}

const serverAudit = (): Record<string, unknown>[] => auditRecords(kit("localhost"));

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
    idleSites: ["site-8", "site-9"],
    admin: ADMIN,
    server: {
      env: { COHORT_TEST_CAPTURE_DIR: captureDir, COHORT_TAMPER_PEERS_JOB: TAMPERED_JOB },
      preloads: ["./test/helpers/capture-peer-relay.ts", "./test/helpers/tamper-peer-traffic.ts"],
    },
  });
  ({ dir, prodDir, server } = fed);
  for (const [name, p] of fed.sites) sites.set(name, p);
});

after(() => stopFederation(server, sites.values(), watcher));

describe("swarm learning in a real federation", () => {
  let jobId = "";
  let finalAt = "";

  test("hello-swarm-cse completes, learns, its final model is only at the last round's aggregator; ccwf cross-site evaluation's matrix is in the job's results", {
    timeout: 150_000,
  }, async () => {
    const r = await adminCli(kit(ADMIN), `submit_job ${join(REPO_ROOT, "examples", "jobs", "hello-swarm-cse")}`, 60_000);
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
    for (const s of SITES.filter((x) => x !== finalAt))
      assert.ok(!existsSync(join(kit(s), "workspace", "jobs", jobId, "workspace", "models", "final_metrics.json")), `${s} has no final model`);
    // Every peer message was relayed and audited at the server without its content.
    const audit = readFileSync(join(kit("localhost"), "audit.log"), "utf8");
    assert.match(audit, /peer\.relay[\s\S]*swarm\.update\.0\.0 \(as the sender labels it\), \d+ bytes sealed/);
    // Cross-site evaluation: every site evaluated the final model and every site's own one, sent to it sealed by their owners.
    assert.match(audit, /peer\.relay[\s\S]*cse\.model\.0 \(as the sender labels it\), \d+ bytes sealed/);
    const dl = await adminCli(kit(ADMIN), `download_job ${jobId}`, 60_000);
    assert.equal(dl.code, 0, dl.text);
    assertSwarmCseMatrix(join(String(dl.json["downloaded_to"]), "workspace"), SITES, finalAt, rounds.at(-1)?.metrics["accuracy"]);
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
    assert.ok(
      windows.some((w) => siteFiles.some((f) => readFileSync(f).indexOf(w) >= 0)),
      "the search finds weights at the aggregator",
    );
    const serverFiles = files(kit("localhost"));
    assert.ok(
      serverFiles.some((f) => f.includes(jobId)),
      `the job store has the job (${serverFiles.length} files under ${kit("localhost")})`,
    );
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
    for (const f of files(captureDir))
      for (const w of windows) assert.equal(readFileSync(f).indexOf(w), -1, `${f} (a relayed message) contains plaintext weights`);
  });

  test("while a job runs, the relay refuses outsiders and envelopes addressed to another job, sender or recipient; audited; the server keeps serving", {
    timeout: 240_000,
  }, async () => {
    // site-9 is a genuine site of the project that the test drives: it takes the deployment (so it
    // is a member of the job) and holds every task it gets, which keeps the job RUNNING until aborted.
    const nine = siteClient("site-9");
    nine.handleRequest(TOPIC_JOB_RESOURCES, () => encode({ ok: true }));
    nine.handleRequest(TOPIC_JOB_DEPLOY, () => encode({ ok: true }));
    let releaseTasks: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (releaseTasks = resolve));
    nine.handleRequest(TOPIC_JOB_TASK, async () => {
      await held;
      throw new Error("released at the end of the test");
    });
    await nine.connectOnce();
    const eight = siteClient("site-8");
    let id = "";
    try {
      const r = await adminCli(kit(ADMIN), `submit_job ${swarmJob("swarm-hostile-relay", { num_rounds: 50, aggr_clients: ["site-1"] })}`, 60_000);
      assert.equal(r.code, 0, r.text);
      id = String(r.json["job_id"]);
      const running = await watcher.wait(id, (st) => st === "RUNNING" || st.startsWith("FINISHED:"), 90_000);
      assert.equal(running["status"], "RUNNING", "precondition: the job runs");
      assert.deepEqual([...(running["job_clients"] as string[])].sort(), [...SITES, "site-9"], "precondition: site-9 is a site of the job");
      await eight.connectOnce(); // after the deployment: not a site of the job

      const otherJob = "0b6c2c55-5a4f-4a43-8f8e-1f2d3c4b5a69";
      const seal = (o: { job?: string; from?: string; to: string }): Uint8Array =>
        sealPeerMessage({
          job: o.job ?? id,
          from: o.from ?? "site-9",
          to: o.to,
          topic: "probe",
          payload: encode("probe"),
          senderKey: startupFile(o.from === "site-8" ? "site-8" : "site-9", "client.key"),
          recipientCertPem: startupFile(o.to, "client.crt"),
        });
      const ask = (c: TransportClient, body: unknown) => c.request(TOPIC_JOB_PEER, encode(body), { timeoutMs: 20_000 });
      const refusals: [string, TransportClient, unknown, RegExp][] = [
        ["not a relay request", nine, { nonsense: true }, /not relayed: not a peer relay request/],
        [
          "a sender outside the job",
          eight,
          { job_id: id, to: "site-1", envelope: seal({ from: "site-8", to: "site-1" }) },
          /not relayed: site-8 is not a site of job/,
        ],
        ["a recipient outside the job", nine, { job_id: id, to: "site-8", envelope: seal({ to: "site-8" }) }, /not relayed: site-8 is not another site of job/],
        ["the sender itself", nine, { job_id: id, to: "site-9", envelope: seal({ to: "site-9" }) }, /not relayed: site-9 is not another site of job/],
        [
          "an envelope of another job",
          nine,
          { job_id: id, to: "site-1", envelope: seal({ job: otherJob, to: "site-1" }) },
          new RegExp(`addressed site-9 → site-1 in job ${otherJob}, not site-9 → site-1 in job ${id}`),
        ],
        [
          "an envelope for another recipient",
          nine,
          { job_id: id, to: "site-1", envelope: seal({ to: "site-2" }) },
          new RegExp(`addressed site-9 → site-2 in job ${id}, not site-9 → site-1`),
        ],
        [
          "an envelope from another sender",
          nine,
          { job_id: id, to: "site-2", envelope: seal({ from: "site-1", to: "site-2" }) },
          new RegExp(`addressed site-1 → site-2 in job ${id}, not site-9 → site-2`),
        ],
        [
          "bytes that are not an envelope",
          nine,
          { job_id: id, to: "site-1", envelope: new Uint8Array([1, 2, 3]) },
          /not relayed: the envelope is not a sealed peer message/,
        ],
      ];
      for (const [what, c, body, re] of refusals) await assert.rejects(ask(c, body), re, what);
      await assert.rejects(
        nine.request(TOPIC_JOB_PEER, new Uint8Array([0xc1, 0xff, 0x00]), { timeoutMs: 20_000 }),
        /not relayed: not a peer relay request/,
        "bytes that are not wire data",
      );
      // Control: the same member, correctly addressed, is relayed (whatever site-1 then makes of a "probe").
      await ask(nine, { job_id: id, to: "site-1", envelope: seal({ to: "site-1" }) }).catch(() => undefined);
      assert.ok(
        serverAudit().some((l) => l["action"] === "peer.relay" && l["outcome"] === "ok" && String(l["reason"]).startsWith("site-9 → site-1: probe")),
        "a correctly addressed envelope is relayed",
      );
      const meta = await watcher.wait(id, () => true, 30_000);
      assert.equal(meta["status"], "RUNNING", "precondition: the job ran throughout the checks");

      const denied = serverAudit().filter((l) => l["action"] === "peer.relay" && l["outcome"] === "denied");
      for (const [what, , , re] of refusals)
        assert.ok(
          denied.some((l) => re.test(`not relayed: ${String(l["reason"])}`)),
          `audited: ${what}`,
        );
      const abort = await adminCli(kit(ADMIN), `abort_job ${id}`, 60_000);
      assert.equal(abort.code, 0, abort.text);
      await watcher.wait(id, (st) => st.startsWith("FINISHED:"), 90_000);
      await assert.rejects(
        ask(nine, { job_id: id, to: "site-1", envelope: seal({ to: "site-1" }) }),
        /not relayed: job .* is not running/,
        "after the job ended",
      );
    } finally {
      releaseTasks();
      await eight.stop();
      await nine.stop();
    }
    const st = await adminCli(kit(ADMIN), "check_status server", 30_000);
    assert.equal(st.code, 0, "the server still answers");
  });

  test("a server that gives a site a wrong peer certificate or alters a relayed message: the site refuses, audited (peer.certificate, peer.received)", {
    timeout: 240_000,
  }, async () => {
    // The server's preload, for this job only: site-1 gets site-3's certificate as site-2's, and
    // messages from site-3 to site-1 arrive with a byte flipped. site-1 aggregates every round,
    // so site-2 and site-3 both send it their updates.
    const r = await adminCli(kit(ADMIN), `submit_job ${swarmJob(TAMPERED_JOB, { num_rounds: 2, aggr_clients: ["site-1"] }, { peer_timeout: 60 })}`, 60_000);
    assert.equal(r.code, 0, r.text);
    const id = String(r.json["job_id"]);
    const siteAudit = (): Record<string, unknown>[] => auditRecords(kit("site-1")).filter((l) => l["job"] === id);
    const seen = (pred: (l: Record<string, unknown>) => boolean): boolean => siteAudit().some(pred);
    const cert = (l: Record<string, unknown>) => l["action"] === "peer.certificate" && l["outcome"] === "denied" && l["peer"] === "site-2";
    const fromTwo = (l: Record<string, unknown>) => l["action"] === "peer.received" && l["outcome"] === "denied" && l["peer"] === "site-2";
    const fromThree = (l: Record<string, unknown>) => l["action"] === "peer.received" && l["outcome"] === "denied" && l["peer"] === "site-3";
    for (let i = 0; i < 1800 && !(seen(cert) && seen(fromTwo) && seen(fromThree)); i++) await new Promise((res) => setTimeout(res, 100));
    assert.match(server.output, /tampering server: job .* → site-1 with site-3's certificate as site-2's/, "precondition: the server lied");
    const lines = siteAudit();
    const certLine = lines.find(cert);
    assert.ok(certLine, `site-1 audits the wrong certificate for site-2:\n${JSON.stringify(lines.filter((l) => String(l["action"]).startsWith("peer.")))}`);
    assert.match(String(certLine["reason"]), /site-3|site-2/);
    const two = lines.find(fromTwo);
    assert.ok(two, "a message from site-2 is refused at site-1");
    assert.match(String(two["reason"]), /no verified certificate for site-2/);
    assert.ok(lines.find(fromThree), "an altered message from site-3 is refused at site-1");
    assert.equal(
      lines.filter((l) => l["action"] === "peer.received" && l["outcome"] === "ok" && l["peer"] !== "site-1").length,
      0,
      "nothing from site-2 or site-3 was taken",
    );
    const meta = await watcher
      .wait(id, (st) => st.startsWith("FINISHED:"), 150_000)
      .catch(async () => {
        await adminCli(kit(ADMIN), `abort_job ${id}`, 60_000);
        return watcher.wait(id, (st) => st.startsWith("FINISHED:"), 60_000);
      });
    // Whatever the job's end, no round took an update from site-2 or site-3 (site-1 could not open them).
    const rounds = (meta["rounds"] as { round: number; sites: string[] }[] | undefined) ?? [];
    for (const x of rounds)
      assert.deepEqual(
        x.sites.filter((s) => s !== "site-1"),
        [],
        `round ${x.round} aggregated ${x.sites.join(", ")}`,
      );
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
    for (const k of others)
      assert.throws(
        () => open(k),
        (e: unknown) => isCohortError(e, "ERR_AUTH_BAD_MAC"),
        `${k}'s key does not open a message for ${h.to}`,
      );
    const opened = decode(open(h.to).payload);
    assert.ok(opened instanceof FLModel, "the recipient's key opens it: the capture is a real model");
    assert.ok(Object.values(opened.params).every((v) => v instanceof Float32Array && v.length > 0));
  });
  test("a site killed mid-job: the server tells the aggregator, the rounds go on with the others without waiting out peer_timeout", {
    timeout: 150_000,
  }, async () => {
    const folder = swarmJob("swarm-killed-site", { num_rounds: 4, aggr_clients: ["site-1", "site-2"] }, { peer_timeout: 600 });
    const r = await adminCli(kit(ADMIN), `submit_job ${folder}`, 60_000);
    assert.equal(r.code, 0, r.text);
    const id = String(r.json["job_id"]);
    await watcher.wait(id, (_s, m) => ((m["rounds"] as unknown[] | undefined)?.length ?? 0) >= 1, 90_000);
    const killedAt = Date.now();
    sites.get("site-3")?.kill();
    const meta = await watcher.wait(id, (s) => s.startsWith("FINISHED:"), 120_000);
    assert.equal(meta["status"], "FINISHED:COMPLETED", String(meta["status_reason"]));
    // Functional, not a speed figure: the job must not have waited out peer_timeout (600 s).
    const seconds = (Date.now() - killedAt) / 1000;
    assert.ok(seconds < 300, `finished ${seconds.toFixed(1)} s after the kill (peer_timeout is 600 s)`);
    const rounds = meta["rounds"] as { round: number; sites: string[] }[];
    assert.equal(rounds.length, 4);
    assert.deepEqual(rounds.at(-1)?.sites, ["site-1", "site-2"], "the last rounds aggregate the two live sites");
    assert.match(server.output, /swarm round \d: site-3 failed/);
  });
});
