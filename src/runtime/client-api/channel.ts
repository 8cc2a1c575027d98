/**
 * The Client API channel (docs/protocol.md §3): a byte stream between a job child and the training
 * process it started, carrying frames `u32 LE length | one wire-format message (§1)`. Messages are
 * maps with a `type`; models travel as `cohort.FLModel` and tensors as raw bytes (frame sections).
 */
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { decode, encodeParts, FLModel } from "../../wire/index.js";
import { ClientApiErrorCode } from "./errors.js";

export const CHANNEL_VERSION = 1;
export const FRAME_HEADER_BYTES = 4;
/** The largest message a frame may carry (the wire format's own limit, §1.7). */
export const MAX_CHANNEL_MESSAGE_BYTES = 2 * 1024 ** 3 - 2 * 1024 ** 2;

/** What a task is for, so that scripts can branch like FLARE's is_train()/is_evaluate(). */
export type TaskKind = "train" | "evaluate" | "submit_model" | "other";

/** Job child → script. */
export interface HelloMessage {
  readonly type: "hello";
  readonly version: number;
  readonly site: string;
  readonly job_id: string;
  readonly job_name: string;
  readonly sites: readonly string[];
  readonly config: Record<string, unknown>;
}
export interface TaskMessage {
  readonly type: "task";
  readonly task_id: string;
  readonly task_name: string;
  readonly kind: TaskKind;
  readonly model: FLModel;
}
export interface StopMessage {
  readonly type: "stop";
  readonly reason: string;
}
export type ToScript = HelloMessage | TaskMessage | StopMessage;

/** Script → job child: validated here, since the script is untrusted code. */
export const fromScriptSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready"), version: z.number().int() }),
  z.object({ type: z.literal("result"), task_id: z.string().max(64), model: z.instanceof(FLModel) }),
  z.object({ type: z.literal("error"), task_id: z.string().max(64), message: z.string() }),
  z.object({
    type: z.literal("log"),
    key: z.string().min(1).max(128),
    value: z.union([z.number(), z.string(), z.boolean()]),
    step: z.number().int().nullish(),
    /** FLARE's LogWriterName of a tracking writer (TORCH_TENSORBOARD, MLFLOW, WEIGHTS_AND_BIASES). */
    writer: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,32}$/)
      .nullish(),
  }),
]);
export type FromScript = z.infer<typeof fromScriptSchema>;

/** The buffers to write for one message: the length prefix, then the encoded parts (no copy of tensors). */
export function frameParts(message: ToScript | FromScript): Uint8Array[] {
  const parts = encodeParts(message);
  let total = 0;
  for (const p of parts) total += p.byteLength;
  if (total > MAX_CHANNEL_MESSAGE_BYTES)
    throw new CohortError(ClientApiErrorCode.Protocol, `a Client API message of ${total} bytes exceeds the channel limit of ${MAX_CHANNEL_MESSAGE_BYTES}`, {
      bytes: total,
    });
  const head = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(head.buffer).setUint32(0, total, true);
  return [head, ...parts];
}

/**
 * Cuts a byte stream into messages. Each message is gathered into one buffer of exactly its
 * declared length (allocated once the length is known, bounded by `maxBytes`), then decoded.
 */
export class FrameReader {
  private head = new Uint8Array(FRAME_HEADER_BYTES);
  private headFill = 0;
  private body: Uint8Array | undefined;
  private bodyFill = 0;

  constructor(private readonly maxBytes = MAX_CHANNEL_MESSAGE_BYTES) {}

  /** Complete message bodies (still encoded) found in `chunk`; throws on a length above the limit. */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let pos = 0;
    while (pos < chunk.byteLength) {
      if (!this.body) {
        const n = Math.min(FRAME_HEADER_BYTES - this.headFill, chunk.byteLength - pos);
        this.head.set(chunk.subarray(pos, pos + n), this.headFill);
        this.headFill += n;
        pos += n;
        if (this.headFill < FRAME_HEADER_BYTES) break;
        const len = new DataView(this.head.buffer).getUint32(0, true);
        if (len === 0 || len > this.maxBytes) {
          throw new CohortError(
            ClientApiErrorCode.Protocol,
            `the training process announced a message of ${len} bytes (allowed 1..${this.maxBytes}): it is not speaking the Client API channel protocol`,
            { length: len },
          );
        }
        // Unpooled memory starting at offset 0: frame sections decode as aligned views.
        const slow = Buffer.allocUnsafeSlow(len);
        this.body = new Uint8Array(slow.buffer, slow.byteOffset, len);
        this.bodyFill = 0;
        this.headFill = 0;
      }
      const n = Math.min(this.body.byteLength - this.bodyFill, chunk.byteLength - pos);
      this.body.set(chunk.subarray(pos, pos + n), this.bodyFill);
      this.bodyFill += n;
      pos += n;
      if (this.bodyFill === this.body.byteLength) {
        out.push(this.body);
        this.body = undefined;
      }
    }
    return out;
  }

  /** True when part of a message is buffered (an exit now cut a message short). */
  get partial(): boolean {
    return this.headFill > 0 || this.body !== undefined;
  }
}

/** Decodes and validates one message from the script. */
export function parseFromScript(bytes: Uint8Array): FromScript {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (err) {
    throw new CohortError(
      ClientApiErrorCode.Protocol,
      `the training process sent bytes that are not a Cohort wire message (${(err as Error).message})`,
      {},
      { cause: err },
    );
  }
  const r = fromScriptSchema.safeParse(value);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new CohortError(
      ClientApiErrorCode.Protocol,
      `the training process sent an invalid Client API message: ${i?.path.join(".") || "(top level)"}: ${i?.message ?? "invalid"}`,
      {},
    );
  }
  return r.data;
}

/** FLARE's task names → kinds; the executor args may rename them. */
export function taskKind(taskName: string, names: { train: string; evaluate: string; submitModel: string }): TaskKind {
  if (taskName === names.train) return "train";
  if (taskName === names.evaluate) return "evaluate";
  if (taskName === names.submitModel) return "submit_model";
  return "other";
}
