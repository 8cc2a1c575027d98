#!/usr/bin/env node
// tsc drops the executable bit: restore it on the CLI entry so `npx cohort` runs it directly.
import { chmodSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

chmodSync(join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "cli", "main.js"), 0o755);
