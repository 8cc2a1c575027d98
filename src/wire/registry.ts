import { WireError } from "./errors.js";

/** Extension codes below this are Cohort's own (docs/protocol.md, "Extension codes"). */
export const FIRST_APPLICATION_CODE = 16;
export const LAST_APPLICATION_CODE = 127;
const RESERVED_NAME_PREFIX = "cohort.";
const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;

/**
 * An application type that may cross the wire. `type` is the class whose instances (exact class, not
 * subclasses) are encoded; `decompose` turns one into wire-encodable state, and `recompose` rebuilds it
 * from state that came off the wire. That state is untrusted: `recompose` must check it and throw on
 * anything unexpected (the decoder wraps such throws in ERR_WIRE_INVALID_VALUE).
 */
export interface WireTypeDefinition<T extends object> {
  readonly name: string;
  readonly code: number;
  readonly type: abstract new (...args: never[]) => T;
  decompose(value: T): unknown;
  recompose(state: unknown): T;
}

/** The registry's view of a type, built-in or application. */
export interface RegisteredType {
  readonly name: string;
  readonly code: number;
  /** UTF-8 of `name`, compared against the wire bytes without decoding them. */
  readonly nameBytes: Uint8Array;
  readonly ctor: unknown;
  decompose(value: unknown): unknown;
  recompose(state: unknown): unknown;
}

const byCode = new Map<number, RegisteredType>();
const byName = new Map<string, RegisteredType>();
const byCtor = new Map<unknown, RegisteredType>();

// Classes the codec already encodes natively; registering them would make encoding ambiguous.
const NATIVE_CLASSES: ReadonlySet<unknown> = new Set<unknown>([
  Object,
  Array,
  Date,
  Map,
  Uint8Array,
  Int8Array,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  Function,
  String,
  Number,
  Boolean,
  Symbol,
]);

function refuse(message: string, details: Record<string, unknown>): never {
  throw new WireError("ERR_WIRE_REGISTRY", message, details);
}

function add(entry: Omit<RegisteredType, "nameBytes">): void {
  if (byName.has(entry.name)) refuse(`type name "${entry.name}" is already registered`, { typeName: entry.name });
  if (byCode.has(entry.code)) {
    refuse(`extension code ${entry.code} is already registered (by "${byCode.get(entry.code)?.name}")`, {
      code: entry.code,
      typeName: entry.name,
    });
  }
  if (byCtor.has(entry.ctor)) refuse(`class of "${entry.name}" is already registered`, { typeName: entry.name });
  const full: RegisteredType = { ...entry, nameBytes: new TextEncoder().encode(entry.name) };
  byCode.set(full.code, full);
  byName.set(full.name, full);
  byCtor.set(full.ctor, full);
}

/** Registers an application type; a second registration of the same name, code or class is refused. */
export function registerType<T extends object>(definition: WireTypeDefinition<T>): void {
  const { name, code, type } = definition;
  if (typeof name !== "string" || !NAME_PATTERN.test(name)) {
    refuse(`type name must match ${NAME_PATTERN.source}`, { typeName: String(name).slice(0, 64) });
  }
  if (name.startsWith(RESERVED_NAME_PREFIX)) refuse(`type names starting "${RESERVED_NAME_PREFIX}" are reserved`, { typeName: name });
  if (!Number.isInteger(code) || code < FIRST_APPLICATION_CODE || code > LAST_APPLICATION_CODE) {
    refuse(`extension code must be an integer in ${FIRST_APPLICATION_CODE}..${LAST_APPLICATION_CODE}`, { typeName: name, code });
  }
  if (typeof type !== "function" || NATIVE_CLASSES.has(type)) refuse(`"${name}" needs an application class as "type"`, { typeName: name });
  if (typeof definition.decompose !== "function" || typeof definition.recompose !== "function") {
    refuse(`"${name}" needs decompose and recompose functions`, { typeName: name });
  }
  add({
    name,
    code,
    ctor: type,
    decompose: (value) => definition.decompose(value as T),
    recompose: (state) => definition.recompose(state),
  });
}

/** Registers one of Cohort's own types under a reserved code; only the wire module calls this. */
export function registerBuiltinType(entry: Omit<RegisteredType, "nameBytes">): void {
  if (entry.code >= FIRST_APPLICATION_CODE || !entry.name.startsWith(RESERVED_NAME_PREFIX)) {
    refuse(`built-in type "${entry.name}" must use a reserved code and name`, { typeName: entry.name, code: entry.code });
  }
  add(entry);
}

export function typeByCode(code: number): RegisteredType | undefined {
  return byCode.get(code);
}

/** The registered type of `value`, matched by its exact class. */
export function typeOfValue(value: object | bigint): RegisteredType | undefined {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === null || proto === undefined) return undefined;
  return byCtor.get((proto as { constructor?: unknown }).constructor);
}

/** Names and codes of every registered type, for diagnostics and docs. */
export function registeredTypes(): ReadonlyArray<{ name: string; code: number }> {
  return [...byCode.values()].map(({ name, code }) => ({ name, code })).sort((a, b) => a.code - b.code);
}
