#!/usr/bin/env node
// After tsc (`npm run build`, and `prepare` on `npm ci`):
// 1. tsc drops the executable bit: restore it on the CLI entry so the `cohort` bin runs it directly.
// 2. The admin console is bundled: `cohort admin -c …` is run from scripts and by hand, and on
//    Node 20 loading ~190 small ES modules (zod alone is 95) took about half of its time. esbuild
//    rewrites dist/cli/commands/admin.js (what `cohort admin` loads) as one module whose lazily
//    imported parts (the session, each link driver, tar, @peculiar/x509) stay separate chunks in
//    dist/cli/commands/admin-chunks/, loaded only when used. Same code, same behaviour; the rest of
//    dist/ (the library exports, the other commands) is tsc's output unchanged. Without esbuild
//    (a production-only install) the unbundled console is kept and works, only slower.
import { chmodSync, readFileSync, rmSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist");
chmodSync(join(dist, "cli", "main.js"), 0o755);

const MARK = "// cohort: admin console bundle";
const entry = join(dist, "cli", "commands", "admin.js");
const chunks = join(dist, "cli", "commands", "admin-chunks");

async function bundleConsole() {
  if (readFileSync(entry, "utf8").startsWith(MARK)) return; // already bundled (postbuild run twice)
  let esbuild;
  try {
    esbuild = await import("esbuild");
  } catch {
    console.error("postbuild: esbuild is not installed; the admin console is left unbundled (it works, but starts slower)");
    return;
  }
  rmSync(chunks, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: [entry],
    outdir: dirname(entry),
    allowOverwrite: true,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    chunkNames: "admin-chunks/[name]-[hash]",
    sourcemap: "linked",
    // Native addons and the big, rarely used libraries stay ordinary package imports.
    external: ["bufferutil", "utf-8-validate", "@grpc/grpc-js", "tar", "@peculiar/x509", "reflect-metadata"],
    // Bundled CommonJS packages (ws, @msgpack/msgpack) call require(): give the ES module one.
    banner: { js: `${MARK}\nimport { createRequire as __cohortCreateRequire } from "node:module";\nconst require = __cohortCreateRequire(import.meta.url);` },
    logLevel: "warning",
  });
}

await bundleConsole();
