// `npm run bench -- clientapi [--mb 100] [--rounds 5]`
// MB/s moving a model to an external Python training process and back through the Client API
// channel (framing, MessagePack, tensors as raw bytes, numpy on the far side), next to a raw pipe
// copy of the same bytes over the same kind of channel (a Unix socket pair on fd 3, a Python echo
// loop) measured in the same run. Goal: ≥ 50 % of the raw pipe.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import type { Duplex } from "node:stream";
import { FLModel, Tensor } from "../src/wire/index.js";
import { ScriptProcess } from "../src/runtime/client-api/script-process.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
// As the executor does by default: Debian's interpreter, where .ci/run installs msgpack and numpy.
const PY = "/usr/bin/python3";

const ECHO_MODEL = `
import cohort_flare as flare
flare.init()
while flare.is_running():
    m = flare.receive()
    if m is None:
        break
    flare.send(m)
`;

// Reads `total` bytes from fd 3 and writes them straight back, `rounds` times.
const ECHO_RAW = `
import os, sys
total, rounds = int(sys.argv[1]), int(sys.argv[2])
for _ in range(rounds):
    left = total
    while left:
        b = os.read(3, min(left, 4 << 20))
        if not b:
            sys.exit(0)
        left -= len(b)
        v = memoryview(b)
        while v:
            v = v[os.write(3, v):]
`;

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number, not ${args[i + 1]}`);
  return v;
}

async function rawPipe(bytes: number, rounds: number): Promise<number> {
  const child = spawn(PY, ["-c", ECHO_RAW, String(bytes), String(rounds)], { stdio: ["ignore", "inherit", "inherit", "pipe"] });
  const channel = child.stdio[3] as Duplex;
  const payload = Buffer.alloc(bytes, 7);
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    await new Promise<void>((resolve, reject) => {
      let got = 0;
      const onData = (c: Buffer): void => {
        got += c.length;
        if (got >= bytes) {
          channel.off("data", onData);
          resolve();
        }
      };
      channel.on("data", onData);
      child.once("exit", () => reject(new Error("raw echo exited early")));
      channel.write(payload);
    });
    best = Math.min(best, performance.now() - t);
  }
  child.kill();
  return best;
}

async function clientApi(bytes: number, rounds: number, work: string): Promise<number> {
  const script = join(work, "echo.py");
  writeFileSync(script, ECHO_MODEL);
  const proc = new ScriptProcess({
    argv: [PY, script],
    cwd: work,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PYTHONPATH: join(ROOT, "python"), PYTHONDONTWRITEBYTECODE: "1", COHORT_CLIENT_API_FD: "3" },
    label: "echo.py",
    hello: { site: "site-1", job_id: "bench", job_name: "bench", sites: ["site-1"], config: {} },
    maxMessageBytes: bytes + 16 * 1024 * 1024,
    log: (l) => console.log(`  ${l}`),
    onLog: () => undefined,
  });
  // Four tensors, as a model has several layers.
  const per = Math.floor(bytes / 4 / 4);
  const params: Record<string, Tensor> = {};
  for (let i = 0; i < 4; i++) params[`layer${i}.weight`] = new Tensor(new Float32Array(per).fill(i + 0.5));
  const model = new FLModel({ params, paramsType: "FULL", currentRound: 0 });
  let best = Infinity;
  try {
    for (let r = 0; r < rounds; r++) {
      const t = performance.now();
      const back = await proc.run("train", "train", model, 120_000);
      best = Math.min(best, performance.now() - t);
      const w = back.params["layer3.weight"];
      // A 1-D tensor decodes as a plain typed array.
      const data = w instanceof Tensor ? w.data : w;
      if (!(data instanceof Float32Array) || data.length !== per || data[per - 1] !== 3.5) throw new Error("the model came back altered (layer3.weight)");
    }
  } finally {
    proc.stop("bench done", 1000);
  }
  return best;
}

export default async function bench(args: string[]): Promise<void> {
  const mb = option(args, "--mb", 100);
  const rounds = option(args, "--rounds", 5);
  const bytes = Math.round(mb * 1e6);
  const work = mkdtempSync(join(tmpdir(), "cohort-bench-clientapi-"));
  try {
    console.log(`clientapi: a ${mb} MB float32 model to a Python child and back, best of ${rounds}`);
    const raw = await rawPipe(bytes, rounds);
    const api = await clientApi(bytes, rounds, work);
    const mbs = (ms: number): number => (2 * bytes) / 1e6 / (ms / 1000);
    console.log("");
    console.log(`  raw pipe copy (fd 3 socket pair, Python echo):  ${mbs(raw).toFixed(0)} MB/s  (${raw.toFixed(0)} ms per round trip)`);
    console.log(`  Client API (FLModel → Python FLModel → back):   ${mbs(api).toFixed(0)} MB/s  (${api.toFixed(0)} ms per round trip)`);
    console.log(`  ratio to raw pipe: ${((100 * raw) / api).toFixed(0)} %  (goal ≥ 50 %)`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
