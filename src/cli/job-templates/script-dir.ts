/**
 * `-sd <script dir>`: what FLARE copies into each app's `custom/` folder. Cohort reads the whole
 * folder first and copies only what is inside it: a link to a file inside the folder is copied as
 * that file; a link leading outside it (or to a folder, or nowhere), a device, socket or pipe is
 * refused by name before anything is written. `__pycache__` folders and `.pyc` files are left
 * out, as FLARE leaves them out. What it holds is bounded by what a job may carry.
 */
import { existsSync, lstatSync, readdirSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, join, relative, sep } from "node:path";
import { CohortError } from "../../errors/index.js";
import { MAX_JOB_ARCHIVE_BYTES } from "../../runtime/jobs/index.js";
import { JobTemplateErrorCode } from "./errors.js";

export interface ScriptFile {
  /** Path inside the script folder, with "/". */
  readonly rel: string;
  /** The file to read (a link's target inside the folder). */
  readonly source: string;
}

/** True when `inner` is `outer` or inside it (both absolute, resolved). */
export function isWithin(inner: string, outer: string): boolean {
  const r = relative(outer, inner);
  return r === "" || (!r.startsWith(`..${sep}`) && r !== ".." && !isAbsolute(r));
}

/** Every file of the script folder `shown` (as the user gave it), checked; nothing is read or written yet. */
export function scriptFiles(shown: string): ScriptFile[] {
  if (!existsSync(shown) || !statSync(shown).isDirectory())
    throw new CohortError(JobTemplateErrorCode.BadScriptDir, `-sd ${shown}: no such folder; give the folder holding the training script`, { file: shown });
  const root = realpathSync(shown);
  const out: ScriptFile[] = [];
  let bytes = 0;
  const refuse = (rel: string, why: string): CohortError =>
    new CohortError(JobTemplateErrorCode.BadScriptDir, `${join(shown, rel)}: ${why}; nothing was written`, { file: join(shown, rel) });
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel === "" ? name : `${rel}/${name}`;
      const path = join(root, r);
      const st = lstatSync(path);
      if (st.isDirectory()) {
        if (name !== "__pycache__") walk(r);
        continue;
      }
      if (name.endsWith(".pyc")) continue;
      let source = path;
      if (st.isSymbolicLink()) {
        const target = existsSync(path) ? realpathSync(path) : undefined;
        if (target === undefined || !isWithin(target, root))
          throw refuse(r, "a link leading outside the script folder (or nowhere); Cohort copies only what is inside it: replace the link with the file");
        if (!statSync(target).isFile()) throw refuse(r, "a link to a folder; link files only, or copy the folder in");
        source = target;
      } else if (!st.isFile()) throw refuse(r, "not a file or folder (a device, socket or pipe)");
      bytes += statSync(source).size;
      if (bytes > MAX_JOB_ARCHIVE_BYTES)
        throw refuse(
          r,
          `the script folder holds more than ${MAX_JOB_ARCHIVE_BYTES} bytes, more than a job may carry; keep data out of it (sites read data from their own paths)`,
        );
      out.push({ rel: r, source });
    }
  };
  walk("");
  return out;
}
