/**
 * The HE worker thread of a site process (he-worker.ts starts it): runs HEModelEncryptor /
 * HEModelDecryptor on encoded FLModels off the site's event loop. It gets the site's CKKS client
 * context once, in workerData; node-seal and the context load on the first call (he-filters.ts
 * keeps the loaded context for the next ones). One call at a time: the site sends the next call
 * when this one is answered. Answers transfer their bytes (no copy).
 */
import { parentPort, workerData } from "node:worker_threads";
import { CohortError, isCohortError } from "../errors/index.js";
import { decode, encode, FLModel } from "../wire/index.js";
import type { SerializedCkksContext } from "./he-context.js";
import { HEModelDecryptor, HEModelEncryptor, heEncryptorArgs } from "./he-filters.js";
import type { FilterContext, FilterDirection } from "./types.js";
import { HeErrorCode, PrivacyErrorCode } from "./errors.js";

export type HeFilterKind = "encryptor" | "decryptor";

/** Site → worker: one filter run. `model` is an encoded FLModel (its buffer transferred). */
export interface HeApplyRequest {
  readonly type: "apply";
  readonly id: number;
  readonly kind: HeFilterKind;
  readonly direction: FilterDirection;
  /** The filter's args, already validated by the site (validated again here). */
  readonly args: Record<string, unknown>;
  readonly model: Uint8Array;
  readonly site: string;
  readonly jobId: string;
  readonly taskName: string;
}

/** Worker → site: the encoded result (its whole buffer, transferred), or a refusal as data. */
export type HeApplyReply =
  | { readonly type: "done"; readonly id: number; readonly model: Uint8Array }
  | {
      readonly type: "error";
      readonly id: number;
      readonly error: { readonly code: string; readonly message: string; readonly details: Record<string, unknown> };
    };

export interface HeWorkerData {
  readonly context: SerializedCkksContext;
}

const FILTER_NAMES: Record<HeFilterKind, string> = { encryptor: "HEModelEncryptor", decryptor: "HEModelDecryptor" };

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  return (v as object).constructor?.name ?? "object";
}

async function run(context: SerializedCkksContext, req: HeApplyRequest): Promise<Uint8Array> {
  const name = FILTER_NAMES[req.kind];
  const where = `${name} at ${req.site} (job ${req.jobId}, task ${req.taskName})`;
  // Both filters need the key (the encryptor encrypts with it: seeded symmetric ciphertexts).
  if (context.secret_key === undefined) {
    throw new CohortError(
      HeErrorCode.NoSecretKey,
      `${where}: this CKKS context has no secret key: it cannot ${req.kind === "encryptor" ? "encrypt" : "decrypt"}; fix: start the site's HE worker with its startup/client_context.ckks`,
      { site: req.site, filter: name },
    );
  }
  let model: unknown;
  try {
    model = decode(req.model);
  } catch (cause) {
    const code = isCohortError(cause) ? cause.code : "undecodable";
    throw new CohortError(
      HeErrorCode.Input,
      `${where}: the input is not an encoded FLModel (${code}: ${(cause as Error).message})`,
      { site: req.site, filter: name, cause: code },
      { cause },
    );
  }
  if (!(model instanceof FLModel))
    throw new CohortError(HeErrorCode.Input, `${where}: the input decodes to ${describe(model)}, not an FLModel`, {
      site: req.site,
      filter: name,
      got: describe(model),
    });
  const filter = req.kind === "encryptor" ? new HEModelEncryptor(heEncryptorArgs.parse(req.args)) : new HEModelDecryptor();
  const ctx: FilterContext = {
    site: req.site,
    jobId: req.jobId,
    taskName: req.taskName,
    direction: req.direction,
    ckks: context,
    charge: () => Promise.reject(new CohortError(PrivacyErrorCode.Filter, `${where}: HE filters spend no privacy budget`, {})),
    log: () => undefined,
  };
  const out = encode(await filter.filter(model, ctx));
  // Only a whole buffer can be transferred; a view (a small message) is copied once, here.
  if (out.byteOffset === 0 && out.byteLength === out.buffer.byteLength) return out;
  const copy = new Uint8Array(out.byteLength);
  copy.set(out);
  return copy;
}

function refusal(err: unknown, kind: HeFilterKind): { code: string; message: string; details: Record<string, unknown> } {
  if (isCohortError(err)) {
    let details: Record<string, unknown> = {};
    try {
      details = structuredClone({ ...err.details });
    } catch {
      // Details that cannot cross threads are dropped; code and message carry the refusal.
    }
    return { code: err.code, message: err.message, details };
  }
  return { code: PrivacyErrorCode.Filter, message: `${FILTER_NAMES[kind]}: ${err instanceof Error ? err.message : String(err)}`, details: {} };
}

if (parentPort) {
  const port = parentPort;
  const { context } = workerData as HeWorkerData;
  port.on("message", (req: HeApplyRequest) => {
    run(context, req).then(
      (model) => port.postMessage({ type: "done", id: req.id, model } satisfies HeApplyReply, [model.buffer as ArrayBuffer]),
      (err: unknown) => port.postMessage({ type: "error", id: req.id, error: refusal(err, req.kind) } satisfies HeApplyReply),
    );
  });
}
