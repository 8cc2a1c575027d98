#!/usr/bin/env node
// Makes `npm test`, `npm run demo`, `npm run bench` work on a fresh clone with no other step:
// installs dependencies when node_modules is missing or older than package-lock.json, and
// rebuilds dist/ when any source file is newer than the compiled CLI.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function newestUnder(dir) {
  let newest = 0;
  if (!existsSync(dir)) return 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestUnder(p) : mtime(p));
  }
  return newest;
}

function run(args) {
  const r = spawnSync(npm, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`cohort: 'npm ${args.join(" ")}' failed (exit ${r.status}); fix the error above and re-run.`);
    process.exit(r.status ?? 1);
  }
}

/**
 * Whether node_modules holds exactly what package-lock.json pins (npm's record of the installed
 * tree, node_modules/.package-lock.json, against the lock). A lock only newer on disk (a fresh
 * clone or git worktree, a checkout) is no reason to reinstall: `npm ci` would also replace a
 * node_modules shared through a symlink with a copy of its own.
 */
function installedMatchesLock(marker, lockFile) {
  try {
    const lock = JSON.parse(readFileSync(lockFile, "utf8")).packages ?? {};
    const installed = JSON.parse(readFileSync(marker, "utf8")).packages ?? {};
    for (const [path, pkg] of Object.entries(lock)) {
      if (path === "") continue;
      const have = installed[path];
      // Optional packages for other platforms (esbuild's binaries) are never installed here.
      if (have ? have.version !== pkg.version : !pkg.optional) return false;
    }
    return Object.keys(installed).every((path) => path in lock);
  } catch {
    return false;
  }
}

const installedMarker = join(root, "node_modules", ".package-lock.json");
const lockFile = join(root, "package-lock.json");
if (!existsSync(installedMarker) || (mtime(installedMarker) < mtime(lockFile) && !installedMatchesLock(installedMarker, lockFile))) {
  console.error("cohort: installing dependencies (npm ci)…");
  run(["ci", "--no-audit", "--no-fund"]); // runs `prepare`, which builds dist/
} else if (!existsSync(join(root, "dist", "cli", "main.js")) || newestUnder(join(root, "src")) > mtime(join(root, "dist", "cli", "main.js"))) {
  console.error("cohort: sources changed, rebuilding dist/ (npm run build)…");
  run(["run", "build", "--silent"]);
}
