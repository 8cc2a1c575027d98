// `npm run bench -- wire [--mib 256] [--runs 5]`: wire-format throughput, measured against a plain
// copy of the same bytes in the same run (issue 3's goal: round trip >= 50 % of the copy's speed).
import { performance } from "node:perf_hooks";
import { Shareable, decode, encode, encodeParts } from "../src/wire/index.js";

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} needs a positive number`);
  return value;
}

/** Fastest of `runs` timings of `fn`, in seconds (the fastest run is the least disturbed one). */
function best(runs: number, fn: () => unknown): number {
  let fastest = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    fastest = Math.min(fastest, (performance.now() - start) / 1000);
  }
  return fastest;
}

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
}

export default async function bench(args: string[]): Promise<void> {
  const mib = option(args, "--mib", 256);
  const runs = option(args, "--runs", 5);
  const array = new Float32Array((mib * 1024 * 1024) / 4);
  for (let i = 0; i < array.length; i += 1024) array[i] = i * 0.5; // touch every page before timing
  const bytes = new Uint8Array(array.buffer);
  const mb = bytes.byteLength / 1e6;
  let sink = 0;

  const copy = best(runs, () => {
    sink += Buffer.from(bytes).byteLength;
  });
  const roundTrip = best(runs, () => {
    sink += (decode(encode(array)) as Float32Array).length;
  });
  const partsTrip = best(runs, () => {
    sink += encodeParts(array).length;
  });
  const encoded = encode(array);
  const decodeOnly = best(runs, () => {
    sink += (decode(encoded) as Float32Array).length;
  });
  const back = decode(encoded) as Float32Array;
  if (back.length !== array.length || back[1024] !== array[1024]) throw new Error("round trip changed the data");

  const widths = [44, 10, 12, 10];
  console.log(`wire bench: ${mib} MiB Float32Array, best of ${runs} runs (MB = 10^6 bytes)`);
  console.log(row(["operation", "ms", "MB/s", "vs copy"], widths));
  const line = (name: string, seconds: number): void =>
    console.log(row([name, (seconds * 1000).toFixed(1), (mb / seconds).toFixed(0), `${((copy / seconds) * 100).toFixed(0)} %`], widths));
  // These two touch no payload bytes, so a throughput figure would be meaningless.
  const noCopy = (name: string, seconds: number): void => console.log(row([name, (seconds * 1000).toFixed(2), "no copy", "-"], widths));
  line("Buffer.from copy (baseline)", copy);
  line("encode + decode round trip", roundTrip);
  noCopy("encodeParts (for socket writes)", partsTrip);
  noCopy("decode only (views into the input)", decodeOnly);

  const control = new Shareable({
    headers: { task_name: "train", task_id: "6f1c2a9e-0d7b-4c1e-9a51-3b0f6c2d8e11", peer: "site-1", round: 7, rc: "OK" },
    data: { status: "ready", metrics: { loss: 0.1234, accuracy: 0.9876 }, tags: ["a", "b", "c"] },
  });
  const controlBytes = encode(control);
  if (controlBytes.byteLength > 1024) throw new Error("control message exceeds 1 KiB");
  const count = 100_000;
  const encodeTime = best(3, () => {
    for (let i = 0; i < count; i++) sink += encode(control).byteLength;
  });
  const decodeTime = best(3, () => {
    for (let i = 0; i < count; i++) sink += decode(controlBytes) ? 1 : 0;
  });
  const bothTime = best(3, () => {
    for (let i = 0; i < count; i++) sink += decode(encode(control)) ? 1 : 0;
  });
  console.log("");
  console.log(`control message (Shareable, ${controlBytes.byteLength} bytes), ${count} messages, best of 3`);
  console.log(row(["operation", "ms", "msg/s", ""], widths));
  for (const [name, seconds] of [
    ["encode", encodeTime],
    ["decode", decodeTime],
    ["encode + decode", bothTime],
  ] as const) {
    console.log(row([name, (seconds * 1000).toFixed(1), Math.round(count / seconds).toLocaleString("en-US"), ""], widths));
  }
  if (sink < 0) console.log(sink); // keeps the work observable
}
