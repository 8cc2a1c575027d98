/**
 * A job's meta and app config files, in either of FLARE's formats: `<base>.json`, or `<base>.conf`
 * (HOCON, hocon.ts) when there is no `.json` (both: refused). Both are validated with the same zod
 * schema and bounded in size; keys Cohort does not read are reported as warnings (never silently
 * dropped, never a failure). Messages name the file as the user knows it (`shown`), never a
 * temporary copy.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { RuntimeErrorCode } from "./errors.js";
import { HOCON_MAX_BYTES, parseHocon } from "./hocon.js";

export interface FoundFile {
  /** The file on disk. */
  readonly path: string;
  /** The file as messages name it. */
  readonly shown: string;
}

/** `<base>.json` or `<base>.conf` in `dir` (undefined when neither); both at once is refused. */
export function findConfigFile(dir: string, shownDir: string, base: string): FoundFile | undefined {
  const json = join(dir, `${base}.json`);
  const conf = join(dir, `${base}.conf`);
  const hasJson = existsSync(json);
  const hasConf = existsSync(conf);
  if (hasJson && hasConf)
    throw new CohortError(
      RuntimeErrorCode.BadJob,
      `${join(shownDir, base)}: both ${base}.json and ${base}.conf are present; keep one (Cohort reads either format, never both)`,
      { file: join(shownDir, `${base}.json`) },
    );
  if (!hasJson && !hasConf) return undefined;
  const found = hasJson ? { path: json, shown: join(shownDir, `${base}.json`) } : { path: conf, shown: join(shownDir, `${base}.conf`) };
  if (!statSync(found.path).isFile())
    throw new CohortError(RuntimeErrorCode.BadJob, `${found.shown}: not a file; it must be a JSON or HOCON file`, { file: found.shown });
  return found;
}

function fieldPath(path: readonly PropertyKey[]): string {
  const out = path.map((seg, i) => (typeof seg === "number" ? `[${seg}]` : i === 0 ? String(seg) : `.${String(seg)}`)).join("");
  return out === "" ? "(top level)" : out;
}

/** Reads and parses a found file (JSON or HOCON) without validating it. */
export function readRawConfig(file: FoundFile): unknown {
  const bytes = statSync(file.path).size;
  if (bytes > HOCON_MAX_BYTES)
    throw new CohortError(
      RuntimeErrorCode.ConfigLimit,
      `${file.shown}: ${bytes} bytes; a job's config or meta file holds at most ${HOCON_MAX_BYTES} bytes (1 MiB); fix: move data out of the config (into the app's files)`,
      { file: file.shown, bytes, limit: HOCON_MAX_BYTES },
    );
  let text: string;
  try {
    text = readFileSync(file.path, "utf8");
  } catch (cause) {
    throw new CohortError(
      RuntimeErrorCode.BadJob,
      `${file.shown}: cannot be read (${(cause as NodeJS.ErrnoException).code ?? "error"})`,
      { file: file.shown },
      { cause },
    );
  }
  if (file.path.endsWith(".conf")) return parseHocon(text, { file: file.shown });
  let proto = false;
  let raw: unknown;
  try {
    // A "__proto__" key would become an object's prototype when the schema copies unknown keys: refused, as in .conf files.
    raw = JSON.parse(text, (key, value: unknown) => {
      if (key === "__proto__") proto = true;
      return value;
    });
  } catch (cause) {
    throw new CohortError(RuntimeErrorCode.BadJob, `${file.shown}: not valid JSON (${(cause as Error).message})`, { file: file.shown }, { cause });
  }
  if (proto) throw new CohortError(RuntimeErrorCode.BadJob, `${file.shown}: the key "__proto__" is not allowed; rename it`, { file: file.shown });
  return raw;
}

/** Validates a parsed file: a refusal names the file, the field and the bad value. */
export function validateConfig<T>(file: FoundFile, raw: unknown, schema: z.ZodType<T>): T {
  const r = schema.safeParse(raw, { reportInput: true });
  if (r.success) return r.data;
  const i = r.error.issues[0];
  const field = fieldPath(i?.path ?? []);
  const got = i && "input" in i && i.input !== undefined ? ` (got ${JSON.stringify(i.input)?.slice(0, 80)})` : "";
  throw new CohortError(RuntimeErrorCode.BadJob, `${file.shown}: ${field}: ${i?.message ?? "invalid"}${got}`, {
    file: file.shown,
    field,
    issues: r.error.issues.length,
  });
}

/**
 * Which keys of an object Cohort reads, and why it ignores others: `read` keys (a nested spec
 * checks the keys of the value, or of each element of an array), `ignored` keys with the reason.
 * Any other key is reported as unknown.
 */
export interface KeySpec {
  readonly read: Readonly<Record<string, KeySpec | true>>;
  readonly ignored?: Readonly<Record<string, string>>;
  /** The reason for a key that is neither read nor listed (else "unknown key"). */
  readonly other?: (value: unknown) => string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** One warning per key Cohort does not read, with the field path and the reason. */
export function ignoredKeys(file: FoundFile, raw: unknown, spec: KeySpec, at: readonly PropertyKey[] = []): string[] {
  if (!isRecord(raw)) return [];
  const out: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const nested = spec.read[key];
    const field = fieldPath([...at, key]);
    if (nested === undefined || !Object.hasOwn(spec.read, key)) {
      const reason = (spec.ignored && Object.hasOwn(spec.ignored, key) ? spec.ignored[key] : undefined) ?? spec.other?.(value) ?? "not a key Cohort knows";
      out.push(`${file.shown}: ${field}: ignored (${reason})`);
    } else if (nested !== true) {
      if (Array.isArray(value)) for (const [i, item] of value.entries()) out.push(...ignoredKeys(file, item, nested, [...at, key, i]));
      else out.push(...ignoredKeys(file, value, nested, [...at, key]));
    }
  }
  return out;
}
