/**
 * The layering of the brief, enforced: areas import each other only downward (the table below,
 * which must stay acyclic), and only through an index.ts (the area's, or a sub-area's public
 * folder such as runtime/admin/). Within runtime, only poc/ and simulator/ may use provision
 * (they build whole projects); everything else in runtime runs from kits that already exist.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative, sep } from "node:path";
import { REPO_ROOT } from "../helpers/index.js";

/** Each area and the areas it may import (the brief: wire, pki, config → transport, auth, authz, audit → runtime, privacy → cli). */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  errors: [],
  wire: ["errors"],
  pki: ["errors"],
  config: ["errors"],
  audit: ["errors", "pki"],
  auth: ["errors", "pki", "wire"],
  authz: ["config", "errors"],
  transport: ["audit", "auth", "errors", "pki", "wire"],
  privacy: ["audit", "errors", "wire"],
  // Provisioning writes HE contexts into kits (HEBuilder), so it sits above privacy.
  provision: ["config", "errors", "pki", "privacy"],
  runtime: ["audit", "auth", "authz", "config", "errors", "pki", "privacy", "provision", "transport", "wire"],
  cli: ["audit", "auth", "authz", "config", "errors", "pki", "privacy", "provision", "runtime", "transport", "wire"],
};
/** Parts of an area that may use an otherwise allowed area (everything else in the area may not). */
const ONLY_FROM: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  runtime: { provision: ["runtime/poc/", "runtime/simulator/"] },
};

const SRC = join(REPO_ROOT, "src");
const IMPORT = /(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Every relative import of src/: [importing file, target file], both relative to src/, with "/". */
export function importsOf(): [string, string][] {
  const out: [string, string][] = [];
  for (const file of sourceFiles(SRC)) {
    for (const m of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const target = normalize(join(dirname(file), m[1] ?? ""));
      out.push([relative(SRC, file).split(sep).join("/"), relative(SRC, target).split(sep).join("/")]);
    }
  }
  return out;
}

export function layeringViolations(imports: readonly [string, string][]): string[] {
  const violations: string[] = [];
  for (const [from, to] of imports) {
    const area = from.split("/")[0] ?? "";
    const parts = to.split("/");
    const target = parts[0] ?? "";
    if (target === area) continue;
    if (!(target in ALLOWED)) {
      violations.push(`${from} imports ${to}: outside src/'s areas`);
      continue;
    }
    if (!(ALLOWED[area] ?? []).includes(target)) violations.push(`${from} imports ${to}: ${area} may not import ${target} (upward or sideways)`);
    const only = ONLY_FROM[area]?.[target];
    if (only && !only.some((prefix) => from.startsWith(prefix)))
      violations.push(`${from} imports ${to}: within ${area}, only ${only.join(", ")} may import ${target}`);
    if (parts[parts.length - 1] !== "index.js") violations.push(`${from} imports ${to}: cross-area imports go through an index.ts`);
  }
  return violations;
}

test("the allowed-imports table is acyclic and names only src/'s areas", () => {
  const areas = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());
  assert.deepEqual([...areas].sort(), Object.keys(ALLOWED).sort(), "every area has a row and every row an area");
  const state = new Map<string, "visiting" | "done">();
  const visit = (a: string, path: string[]): void => {
    if (state.get(a) === "done") return;
    assert.notEqual(state.get(a), "visiting", `cycle: ${[...path, a].join(" → ")}`);
    state.set(a, "visiting");
    for (const b of ALLOWED[a] ?? []) visit(b, [...path, a]);
    state.set(a, "done");
  };
  for (const a of Object.keys(ALLOWED)) visit(a, []);
});

test("src/ imports point down only, through index.ts", () => {
  const imports = importsOf();
  assert.ok(imports.length > 300, `only ${imports.length} imports found: the scan is broken`);
  assert.deepEqual(layeringViolations(imports), []);
});

test("the check catches an upward import, a sideways one, a deep one and provision outside poc/simulator", () => {
  assert.deepEqual(
    layeringViolations([
      ["wire/codec.ts", "transport/index.js"],
      ["auth/login.ts", "audit/index.js"],
      ["cli/commands/admin.ts", "runtime/admin/session.js"],
      ["runtime/site/site-jobs.ts", "provision/index.js"],
      ["runtime/poc/poc.ts", "provision/index.js"],
    ]).map((v) => v.replace(/:.*/, "")),
    [
      "wire/codec.ts imports transport/index.js",
      "auth/login.ts imports audit/index.js",
      "cli/commands/admin.ts imports runtime/admin/session.js",
      "runtime/site/site-jobs.ts imports provision/index.js",
    ],
  );
});

test("no file at runtime/'s root but its index.ts; each concern folder with error codes keeps them in its own errors.ts", () => {
  const root = join(SRC, "runtime");
  assert.deepEqual(
    readdirSync(root)
      .filter((n) => statSync(join(root, n)).isFile())
      .sort(),
    ["index.ts"],
  );
  // Error catalogues live beside the code that throws them, never in a shared file of the runtime.
  for (const dir of readdirSync(root).filter((n) => statSync(join(root, n)).isDirectory())) {
    for (const file of readdirSync(join(root, dir)).filter((n) => n.endsWith(".ts") && n !== "errors.ts")) {
      const text = readFileSync(join(root, dir, file), "utf8");
      assert.doesNotMatch(text, /export const \w+ErrorCode = \{/, `runtime/${dir}/${file}: error codes belong in runtime/${dir}/errors.ts`);
    }
  }
});

test("learn/ (the demo's ML) is imported only by the demo's trainers and the persistor's built-in model kinds", () => {
  /** Why each may: the trainers are the demo's executors; the persistor initialises the demo's model kinds. Dataset locations are in datasets/. */
  const importers = ["runtime/components/persistor.ts", "runtime/components/trainer.ts"];
  const found = new Set<string>();
  const walk = (dir: string): void => {
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith(".ts")) {
        const rel = relative(SRC, p).split(sep).join("/");
        if (rel.startsWith("runtime/learn/")) continue;
        if (/["'](?:\.\.?\/)+(?:runtime\/)?learn\//.test(readFileSync(p, "utf8"))) found.add(rel);
      }
    }
  };
  walk(SRC);
  assert.deepEqual([...found].sort(), importers);
});
