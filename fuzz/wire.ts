// `npm run fuzz -- wire [--seconds N] [--seed S]`: mutates valid wire messages and stream chunks and
// checks that decoding either returns a value or throws the typed WireError, never anything else.
// On a violation it prints the input as hex and exits non-zero.
import { performance } from "node:perf_hooks";
import { xorshift32 } from "./_rng.js";
import { DXO, FLModel, Shareable, StreamReceiver, Tensor, chunkPayload, concatParts, decode, encode, isWireError } from "../src/wire/index.js";

export interface FuzzReport {
  readonly seed: number;
  readonly iterations: number;
  readonly decoded: number;
  readonly refused: number;
  /** The first input that produced anything but a value or a WireError. */
  readonly violation?: { readonly target: "decode" | "stream"; readonly inputHex: string; readonly error: string };
}

function corpus(): Uint8Array[] {
  const small = { sectionThreshold: 16 };
  const tensor = new Tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  return [
    encode({ task: "train", round: 3, ok: true, ratio: 0.5, none: null, list: [1, -2, "x"] }),
    encode([new Uint8Array([1, 2, 3]), new Int16Array([-1, 2]), new BigInt64Array([5n]), 2n ** 70n, new Date(0)]),
    encode(
      new Map<unknown, unknown>([
        [1, "a"],
        ["k", [true]],
      ]),
    ),
    encode(tensor),
    encode({ t: tensor, w: new Float64Array(8) }, small),
    encode(new Shareable({ headers: { task_name: "train" }, data: { DXO: new DXO({ dataKind: "WEIGHTS", data: { w: tensor } }) } }), small),
    encode(
      new FLModel({ params: { a: tensor, b: new Tensor(new Int32Array(4)) }, paramsType: "DIFF", metrics: { acc: 1 }, currentRound: 1, totalRounds: 2 }),
      small,
    ),
    encode({ nested: [[[{ deep: [[["x"]]] }]]] }),
  ];
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xc1, 0xc7, 0xc9, 0xcf, 0xd3, 0xdb, 0xdd, 0xdf, 0x92, 0x03, 0x02];
const INTERESTING_U32 = [0, 1, 0x7f, 0xffff, 0x7fffffff, 0xffffffff, 0x10000, 0x1000];

function mutate(input: Uint8Array, other: Uint8Array, next: () => number): Uint8Array {
  const out = Uint8Array.from(input);
  const at = (n: number): number => (n === 0 ? 0 : next() % n);
  switch (next() % 8) {
    case 0: {
      // flip bits
      for (let i = 1 + at(4); i > 0 && out.length; i--) {
        const p = at(out.length);
        out[p] = (out[p] as number) ^ (1 << at(8));
      }
      return out;
    }
    case 1: {
      // interesting byte
      if (out.length) out[at(out.length)] = INTERESTING[at(INTERESTING.length)] as number;
      return out;
    }
    case 2: {
      // interesting 32-bit value, either byte order
      if (out.length < 4) return out;
      new DataView(out.buffer).setUint32(at(out.length - 3), INTERESTING_U32[at(INTERESTING_U32.length)] as number, next() % 2 === 0);
      return out;
    }
    case 3:
      return out.subarray(0, at(out.length)); // truncate
    case 4: {
      // delete a range
      const start = at(out.length);
      return concatParts([out.subarray(0, start), out.subarray(start + 1 + at(16))]);
    }
    case 5: {
      // insert random bytes
      const start = at(out.length + 1);
      const extra = Uint8Array.from({ length: 1 + at(8) }, () => next() & 0xff);
      return concatParts([out.subarray(0, start), extra, out.subarray(start)]);
    }
    case 6: {
      // splice with another message
      return concatParts([out.subarray(0, at(out.length + 1)), other.subarray(at(other.length + 1))]);
    }
    default: {
      // duplicate a slice in place
      const start = at(out.length);
      const slice = out.slice(start, start + 1 + at(32));
      return concatParts([out.subarray(0, start), slice, out.subarray(start)]);
    }
  }
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

function violationOf(err: unknown): string | undefined {
  return isWireError(err) ? undefined : err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Runs for `seconds` (or `iterations`, whichever comes first) and reports the first violation. */
export async function runWireFuzz(options: { seconds: number; seed?: number; iterations?: number }): Promise<FuzzReport> {
  const seed = options.seed ?? Date.now() & 0x7fffffff;
  const next = xorshift32(seed);
  const messages = corpus();
  const chunks = [...chunkPayload(messages[6] as Uint8Array, { chunkBytes: 64 }).chunks].map(concatParts);
  const deadline = performance.now() + options.seconds * 1000;
  const maxIterations = options.iterations ?? Infinity;
  let iterations = 0;
  let decoded = 0;
  let refused = 0;
  while (iterations < maxIterations && performance.now() < deadline) {
    for (let batch = 0; batch < 200 && iterations < maxIterations; batch++, iterations++) {
      const streamCase = next() % 10 === 0;
      const pool = streamCase ? chunks : messages;
      let input = pool[next() % pool.length] as Uint8Array;
      for (let rounds = 1 + (next() % 3); rounds > 0; rounds--) input = mutate(input, pool[next() % pool.length] as Uint8Array, next);
      try {
        if (streamCase) {
          // A fresh receiver fed the valid prefix, then the mutant in place of one chunk.
          const receiver = new StreamReceiver({ peerQuotaBytes: 1 << 20 });
          const position = next() % chunks.length;
          try {
            for (let i = 0; i < position; i++) receiver.accept("fuzz", chunks[i] as Uint8Array);
            receiver.accept("fuzz", input);
          } finally {
            receiver.close();
          }
        } else {
          decode(input, { maxDepth: 32 });
        }
        decoded++;
      } catch (err) {
        const violation = violationOf(err);
        if (violation)
          return { seed, iterations, decoded, refused, violation: { target: streamCase ? "stream" : "decode", inputHex: hex(input), error: violation } };
        refused++;
      }
    }
    await new Promise<void>((resolve) => setImmediate(resolve)); // let timers and signals run
  }
  return { seed, iterations, decoded, refused };
}

export default async function fuzz(args: string[]): Promise<void> {
  const value = (name: string): number | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  const seconds = value("--seconds") ?? 10;
  const seed = value("--seed");
  const report = await runWireFuzz(seed === undefined ? { seconds } : { seconds, seed });
  console.log(`wire fuzz: seed ${report.seed}, ${report.iterations} inputs, ${report.decoded} decoded, ${report.refused} refused with WireError`);
  if (report.violation) {
    console.error(`VIOLATION in ${report.violation.target}: ${report.violation.error}`);
    console.error(`input (hex): ${report.violation.inputHex}`);
    console.error(`replay: npm run fuzz -- wire --seed ${report.seed} --seconds ${seconds}`);
    process.exitCode = 1;
  }
}
