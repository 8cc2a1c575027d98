/**
 * cohort/wire: the only way bytes cross a site boundary. MessagePack with registered types only
 * (docs/protocol.md): nothing on the wire names a constructor, module or code to run.
 */
import "./builtins.js";

export { CohortError } from "../errors/index.js";
export { WireError, isWireError, type WireErrorCode } from "./errors.js";
export { encode, encodeParts, concatParts, type EncodeOptions } from "./encode.js";
export { decode, type DecodeOptions } from "./decode.js";
export { registerType, registeredTypes, type WireTypeDefinition } from "./registry.js";
export { Tensor } from "./tensor.js";
export { DTYPES, type DType, type TypedArray } from "./dtype.js";
export { DXO, DATA_KINDS, type DataKind, type DXOInit } from "./dxo.js";
export { FLModel, PARAMS_TYPES, type ParamsType, type FLModelInit } from "./fl-model.js";
export { Shareable, type ShareableInit } from "./shareable.js";
export type { WireRecord } from "./state.js";
export { DEFAULT_MAX_DEPTH, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_SECTION_THRESHOLD, type DecodeLimits } from "./limits.js";
export { chunkPayload, needsStreaming, DEFAULT_CHUNK_BYTES, type ChunkOptions, type OutgoingStream, type StreamDigest } from "./stream-sender.js";
export { StreamReceiver, type StreamReceiverOptions, type CompletedStream } from "./stream-receiver.js";
export type { CompletedBytes } from "./stream-sink.js";
export { CHUNK_HEADER_BYTES } from "./chunk.js";
export { bytesSchema } from "./bytes-schema.js";
