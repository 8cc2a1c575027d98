import { readFileSync } from "node:fs";
import type { z } from "zod";
import { CohortError } from "../errors/index.js";
import { ConfigErrorCode, formatPath } from "./errors.js";

/**
 * Reads a JSON file and validates it: a refusal names the file, the field, the bad value and (when
 * given) the fix, under the caller's area code (`ERR_CONFIG_INVALID` by default).
 */
export function readJsonFile<T>(file: string, schema: z.ZodType<T>, options: { code?: string; fix?: string } = {}): T {
  const code = options.code ?? ConfigErrorCode.Invalid;
  const fix = options.fix ? `; ${options.fix}` : "";
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new CohortError(code, `${file}: not valid JSON (${(cause as Error).message})${fix}`, { file }, { cause });
  }
  const r = schema.safeParse(raw, { reportInput: true });
  if (!r.success) {
    const i = r.error.issues[0];
    const field = formatPath(i?.path ?? []);
    const got = i && "input" in i && i.input !== undefined ? ` (got ${JSON.stringify(i.input).slice(0, 80)})` : "";
    throw new CohortError(code, `${file}: ${field}: ${i?.message ?? "invalid"}${got}${fix}`, { file, field, issues: r.error.issues.length });
  }
  return r.data;
}
