/** MessagePack extension codes used by Cohort (docs/protocol.md, "Extension codes"). */
export const EXT_TIMESTAMP = -1; // MessagePack's standard timestamp, decoded as Date
export const EXT_TYPED_ARRAY = 1; // dtype byte + raw little-endian elements, inline
export const EXT_SECTION_ARRAY = 2; // dtype byte + u32 LE section index: elements live in a frame section
export const EXT_TENSOR = 3;
export const EXT_BIGINT = 4;
export const EXT_MAP = 5;
export const EXT_SHAREABLE = 6;
export const EXT_DXO = 7;
export const EXT_FL_MODEL = 8;

export const SECTION_ARRAY_PAYLOAD_BYTES = 5;

/** Keys that could reach an object's prototype machinery if a consumer ever merged decoded maps. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);
