import assert from "node:assert/strict";
import { encode as msgpackEncode } from "@msgpack/msgpack";
import { isWireError, type WireErrorCode } from "../../src/wire/index.js";

/** Plain MessagePack as another library would write it. */
export function mp(value: unknown): Uint8Array {
  return msgpackEncode(value);
}

/** An ext8/ext32 value with the given code and payload (what a hostile peer can send freely). */
export function ext(code: number, payload: Uint8Array): Uint8Array {
  const small = payload.byteLength < 256;
  const head = small ? Uint8Array.of(0xc7, payload.byteLength, code & 0xff) : new Uint8Array(6);
  if (!small) {
    head[0] = 0xc9;
    new DataView(head.buffer).setUint32(1, payload.byteLength);
    head[5] = code & 0xff;
  }
  return cat(head, payload);
}

export function cat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

export function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ""), "hex"));
}

/** Asserts `fn` throws a wire error with `code`, and returns it for further checks. */
export function throwsWire(fn: () => unknown, code: WireErrorCode): { message: string; details: Readonly<Record<string, unknown>> } {
  try {
    fn();
  } catch (err) {
    assert.ok(isWireError(err), `expected a WireError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, nothing was thrown`);
}
