import { WireError } from "./errors.js";

/** Checks on state that came off the wire, shared by the recompose functions of built-in types. */

export type WireRecord = Record<string, unknown>;

export function invalid(typeName: string, what: string): never {
  throw new WireError("ERR_WIRE_INVALID_VALUE", `${typeName}: ${what}`, { typeName });
}

export function isRecord(value: unknown): value is WireRecord {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function requireRecord(typeName: string, field: string, value: unknown): WireRecord {
  if (!isRecord(value)) invalid(typeName, `"${field}" must be a map with string keys`);
  return value;
}

export function optionalRecord(typeName: string, field: string, value: unknown): WireRecord | null {
  return value === null || value === undefined ? null : requireRecord(typeName, field, value);
}

export function optionalCount(typeName: string, field: string, value: unknown): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    invalid(typeName, `"${field}" must be a non-negative integer or null`);
  }
  return value;
}

export function requireOneOf<T extends string>(typeName: string, field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    invalid(typeName, `"${field}" must be one of ${allowed.join(", ")}`);
  }
  return value as T;
}
