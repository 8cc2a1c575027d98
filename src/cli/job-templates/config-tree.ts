/**
 * A job's config files as `nvflare job` sees them: parsed (JSON, or HOCON by Cohort's strict
 * parser), indexed into the "variables" show_variables prints (FLARE's rules: leaf keys, minus
 * ids, paths, task names and the like, each with the class of the component it belongs to), and
 * edited by `-f <file> key=value`: a bare key sets every occurrence of that key, as FLARE does; a
 * path (`workflows[0].args.num_rounds`) sets one. Unlike FLARE, a key or path the file does not
 * have is refused (FLARE adds it, so a typo silently changes nothing), and the new value keeps the
 * type of the old one.
 */
import { readFileSync, statSync } from "node:fs";
import { CohortError } from "../../errors/index.js";
import { HOCON_MAX_BYTES, parseHocon, RuntimeErrorCode } from "../../runtime/jobs/index.js";
import { JobTemplateErrorCode } from "./errors.js";

export type Json = ReturnType<typeof parseHocon>;
type JsonObject = { [key: string]: Json };

const isObject = (v: Json | undefined): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
const isPrimitive = (v: Json): boolean => v === null || typeof v !== "object";

/** Parses a config file's text: `.json` as JSON (a `__proto__` key refused, as the job loader does), anything else as HOCON. */
export function parseConfigText(text: string, fileName: string, shown: string): Json {
  if (!fileName.endsWith(".json")) return parseHocon(text, { file: shown });
  let proto = false;
  try {
    const raw = JSON.parse(text, (key, value: unknown) => {
      if (key === "__proto__") proto = true;
      return value;
    }) as Json;
    if (!proto) return raw;
  } catch (cause) {
    throw new CohortError(RuntimeErrorCode.BadJob, `${shown}: not valid JSON (${(cause as Error).message})`, { file: shown }, { cause });
  }
  throw new CohortError(RuntimeErrorCode.BadJob, `${shown}: the key "__proto__" is not allowed; rename it`, { file: shown });
}

/** Reads and parses a config file, bounded as the job loader bounds it. */
export function readConfigFile(path: string, fileName: string, shown: string): { text: string; value: Json } {
  const bytes = statSync(path).size;
  if (bytes > HOCON_MAX_BYTES)
    throw new CohortError(
      RuntimeErrorCode.ConfigLimit,
      `${shown}: ${bytes} bytes; a job's config or meta file holds at most ${HOCON_MAX_BYTES} bytes (1 MiB)`,
      {
        file: shown,
      },
    );
  const text = readFileSync(path, "utf8");
  return { text, value: parseConfigText(text, fileName, shown) };
}

/** One variable of a config file: its key, value and the class of the component it belongs to ("" when none). */
export interface Variable {
  readonly key: string;
  readonly value: Json;
  readonly component: string;
}

/** Keys FLARE's show_variables leaves out (config_indexer.py), besides the ids of the file's components. */
const NOT_VARIABLES = [
  "name",
  "path",
  "id",
  "format_version",
  "tasks",
  "task_name",
  "train_task_name",
  "submit_model_task_name",
  "validation_task_name",
  "validate_task_name",
  "task_data_filters",
  "task_result_filters",
  "exchange_path",
  "job_folder_name",
  "json_encoder_path",
];

const className = (o: JsonObject): string | undefined => {
  const p = o["path"];
  return typeof p === "string" && p.indexOf(".") > 0 ? p.slice(p.lastIndexOf(".") + 1) : undefined;
};

/** The file's variables by key, as FLARE indexes them: a key met twice shows its last value. */
export function variablesOf(config: Json): Map<string, Variable> {
  const excluded = new Set(NOT_VARIABLES);
  if (isObject(config) && Array.isArray(config["components"]))
    for (const c of config["components"]) if (isObject(c) && typeof c["id"] === "string") excluded.add(c["id"]);
  const out = new Map<string, Variable>();
  const walk = (o: JsonObject, component: string): void => {
    const own = className(o) ?? component;
    for (const [key, value] of Object.entries(o)) {
      if (excluded.has(key) || (typeof value === "string" && excluded.has(value))) continue;
      if (isObject(value)) walk(value, own);
      else if (Array.isArray(value) && value.some((x) => !isPrimitive(x))) {
        for (const item of value) if (isObject(item)) walk(item, own);
      } else out.set(key, { key, value, component: own });
    }
  };
  if (isObject(config)) walk(config, "");
  return out;
}

type Segment = string | number;

/** `a.b[0].c` → ["a", "b", 0, "c"]; undefined when it is not such a path. */
function parsePath(key: string): Segment[] | undefined {
  const out: Segment[] = [];
  for (const part of key.split(".")) {
    const m = /^([A-Za-z0-9_-]+)((?:\[\d+\])*)$/.exec(part);
    if (!m) return undefined;
    out.push(m[1] as string);
    for (const idx of (m[2] ?? "").matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

/** Where a value sits: its container and the key or index in it. */
interface Slot {
  readonly parent: JsonObject | Json[];
  readonly at: string | number;
}

function slotAt(config: Json, path: readonly Segment[]): Slot | undefined {
  let cur: Json | undefined = config;
  for (const [i, seg] of path.entries()) {
    const last = i === path.length - 1;
    if (typeof seg === "number" ? !Array.isArray(cur) || seg >= cur.length : !isObject(cur) || !Object.hasOwn(cur, seg)) return undefined;
    if (last) return { parent: cur as JsonObject | Json[], at: seg };
    cur = typeof seg === "number" ? (cur as Json[])[seg] : (cur as JsonObject)[seg];
  }
  return undefined;
}

/** Every place a bare key holds a value FLARE would index (not an object, not a list of objects). */
function slotsNamed(config: Json, key: string): Slot[] {
  const out: Slot[] = [];
  const walk = (v: Json): void => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (isObject(v))
      for (const [k, x] of Object.entries(v)) {
        if (k === key && !isObject(x) && !(Array.isArray(x) && x.some((y) => !isPrimitive(y)))) out.push({ parent: v, at: k });
        else walk(x);
      }
  };
  walk(config);
  return out;
}

/** A JSON string's contents (`"a b"` → a b); text that is no JSON string stays as given. */
function quoted(text: string): string {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "string" ? v : text;
  } catch {
    return text;
  }
}

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/** The value `text` means where `old` was: the same type (a string stays a string), else refused with what fits. */
function typedValue(text: string, old: Json, where: string, shown: string): Json {
  const bad = (what: string, example: string): CohortError =>
    new CohortError(JobTemplateErrorCode.BadEdit, `${shown}: ${where} is ${what}; ${JSON.stringify(text)} is not (e.g. ${example})`, {
      file: shown,
      field: where,
      value: text,
    });
  if (typeof old === "string") return /^".*"$/s.test(text) ? quoted(text) : text;
  if (typeof old === "number") {
    if (!NUMBER.test(text)) throw bad("a number", "5 or 0.5");
    return Number(text);
  }
  if (typeof old === "boolean") {
    if (text !== "true" && text !== "false") throw bad("true or false", "true");
    return text === "true";
  }
  if (old === null) {
    if (NUMBER.test(text)) return Number(text);
    if (text === "true" || text === "false" || text === "null") return JSON.parse(text) as Json;
    if (!/^[[{"]/.test(text)) return text;
  }
  const parsed = (parseHocon(`v = ${text}`, { file: `${shown} (${where}=${text})` }) as JsonObject)["v"] as Json;
  if (old !== null && Array.isArray(parsed) !== Array.isArray(old))
    throw bad(Array.isArray(old) ? "a list" : "an object", Array.isArray(old) ? "[1, 2]" : "{a = 1}");
  return parsed;
}

/**
 * Applies `key=value` words to a parsed config (in place). A bare key sets each of its
 * occurrences; a path sets the one value there. Refused, naming the file and the key: a key or
 * path the file does not have, FLARE's `key-` (removal), a word without `=`, a value of another type.
 */
export function applyEdits(config: Json, words: readonly string[], shown: string): void {
  for (const word of words) {
    const eq = word.indexOf("=");
    const key = eq > 0 ? word.slice(0, eq) : word;
    if (eq <= 0 || key.endsWith("-"))
      throw new CohortError(
        JobTemplateErrorCode.BadEdit,
        key.endsWith("-")
          ? `${shown}: ${JSON.stringify(word)}: removing a key is not supported; edit the file instead`
          : `${shown}: ${JSON.stringify(word)}: give key=value, e.g. num_rounds=3`,
        { file: shown, value: word },
      );
    const text = word.slice(eq + 1);
    const bare = /^[A-Za-z0-9_-]+$/.test(key);
    const path = bare ? undefined : parsePath(key);
    const slots = bare ? slotsNamed(config, key) : path ? [slotAt(config, path)].filter((s): s is Slot => s !== undefined) : [];
    if (slots.length === 0) {
      const known = [...variablesOf(config).keys()].sort();
      throw new CohortError(
        JobTemplateErrorCode.BadEdit,
        `${shown}: no key ${JSON.stringify(key)} in this file (cohort job show_variables lists them${known.length ? `: ${known.slice(0, 12).join(", ")}${known.length > 12 ? ", …" : ""}` : ""}); a key the file does not have is never added`,
        { file: shown, field: key },
      );
    }
    for (const s of slots) {
      const old = (Array.isArray(s.parent) ? s.parent[s.at as number] : s.parent[s.at as string]) as Json;
      const value = typedValue(text, old, key, shown);
      if (Array.isArray(s.parent)) s.parent[s.at as number] = value;
      else s.parent[s.at as string] = value;
    }
  }
}

/** An edited config as the file's format writes it: JSON (which HOCON reads too) with a note that the template's comments are gone. */
export function configText(config: Json, fileName: string): string {
  const body = `${JSON.stringify(config, null, 2)}\n`;
  return fileName.endsWith(".json") ? body : `# written by cohort job create (the template's comments are not kept)\n${body}`;
}
