// `npm run fuzz -- <area>`: runs fuzz/<area>.ts, whose default export mutates inputs for the given time.
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const areas = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.startsWith("_"))
  .map((f) => f.slice(0, -3))
  .sort();
const area = process.argv[2];
if (!area || !areas.includes(area)) {
  console.error(`usage: npm run fuzz -- <area> [options]\nareas: ${areas.join(", ")}`);
  process.exit(area ? 1 : 0);
}
const mod = (await import(pathToFileURL(join(here, `${area}.ts`)).href)) as {
  default: (args: string[]) => Promise<void>;
};
await mod.default(process.argv.slice(3));
