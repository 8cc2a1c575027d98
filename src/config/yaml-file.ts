import { readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { createRequire } from "node:module";
import { CohortError } from "../errors/index.js";
import { ConfigErrorCode } from "./errors.js";

// yaml is loaded on the first YAML file read, not with the config area: kits are JSON, and the
// console (`cohort admin`) starts faster without it. Under Node the package is CommonJS either way.
type Yaml = typeof import("yaml");
let yaml: Yaml | undefined;
const loadYaml = (): Yaml => (yaml ??= createRequire(import.meta.url)("yaml") as Yaml);

const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

function readText(file: string, referencedFrom?: string): string {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    throw new CohortError(ConfigErrorCode.FileNotFound, `${file}: file not found${referencedFrom ? ` (included from ${referencedFrom})` : ""}`, { file });
  }
  if (size > MAX_CONFIG_BYTES) {
    throw new CohortError(ConfigErrorCode.Invalid, `${file}: file is ${size} bytes; configuration files are limited to ${MAX_CONFIG_BYTES} bytes`, {
      file,
      value: size,
    });
  }
  return readFileSync(file, "utf8");
}

/** Parses one YAML file; syntax errors name the file, line and column. */
export function parseYamlFile(file: string, referencedFrom?: string): unknown {
  const text = readText(file, referencedFrom);
  // uniqueKeys: a duplicated key is almost always a mistake; merge keys and custom tags stay off.
  const doc = loadYaml().parseDocument(text, { uniqueKeys: true, merge: false, prettyErrors: true });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
    throw new CohortError(
      ConfigErrorCode.YamlSyntax,
      `${where}: YAML syntax error: ${(err.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "")}; fix the YAML at that line`,
      {
        file,
        line: pos?.line,
        column: pos?.col,
      },
    );
  }
  return doc.toJS({ maxAliasCount: 100 });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Loads a YAML file and resolves FLARE's `include:` key (a file or a list of files, relative to the
 * including file) at any mapping level: the included mapping's keys are merged in, and keys written
 * beside `include` win. An include must stay inside the root file's folder.
 */
export function loadYamlWithIncludes(file: string): unknown {
  const rootFile = resolve(file);
  const rootDir = realpathSync(dirname(rootFile));
  return loadIncluding(rootFile, rootDir, []);
}

function loadIncluding(file: string, rootDir: string, chain: readonly string[]): unknown {
  const data = parseYamlFile(file, chain[chain.length - 1]);
  return expand(data, file, rootDir, [...chain, file]);
}

function expand(value: unknown, file: string, rootDir: string, chain: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map((v) => expand(v, file, rootDir, chain));
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  const include = value["include"];
  if (include !== undefined) {
    const list = Array.isArray(include) ? include : [include];
    for (const item of list) {
      if (typeof item !== "string" || item === "") {
        throw new CohortError(ConfigErrorCode.Invalid, `${file}: include: must be a file name or a list of file names (got ${JSON.stringify(item)})`, {
          file,
          field: "include",
          value: item,
        });
      }
      const target = resolve(dirname(file), item);
      let real: string;
      try {
        real = realpathSync(target);
      } catch {
        throw new CohortError(ConfigErrorCode.FileNotFound, `${file}: include: ${JSON.stringify(item)} not found (looked for ${target})`, {
          file,
          field: "include",
          value: item,
        });
      }
      const rel = relative(rootDir, real);
      if (rel.startsWith("..") || isAbsolute(rel)) {
        throw new CohortError(
          ConfigErrorCode.IncludeEscapes,
          `${file}: include: ${JSON.stringify(item)} resolves outside the project folder ${rootDir}; move the file into that folder`,
          {
            file,
            field: "include",
            value: item,
          },
        );
      }
      if (chain.includes(real)) {
        throw new CohortError(ConfigErrorCode.IncludeCycle, `${file}: include: ${JSON.stringify(item)} includes itself (${[...chain, real].join(" -> ")})`, {
          file,
          field: "include",
          value: item,
        });
      }
      const included = loadIncluding(real, rootDir, chain);
      if (!isRecord(included)) {
        throw new CohortError(ConfigErrorCode.Invalid, `${real}: an included file must hold a mapping (key: value pairs)`, { file: real });
      }
      Object.assign(out, included);
    }
  }
  for (const [k, v] of Object.entries(value)) {
    if (k !== "include") out[k] = expand(v, file, rootDir, chain);
  }
  return out;
}
