/**
 * `cohort job create` (FLARE's `nvflare job create`): a job folder from a template — meta at its
 * root (named after the folder), the template's files in `<app>/config/`, the script folder in
 * `<app>/custom/`, `-f` edits applied. Everything is read and checked first (template, edits,
 * script folder, the job folder's place); only then is the job folder written, and nothing
 * outside it: a failure while writing removes the folder it created.
 */
import { copyFileSync, constants, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { CohortError } from "../../errors/index.js";
import { loadJobFolder } from "../../runtime/jobs/index.js";
import { applyEdits, configText, type Json, parseConfigText } from "./config-tree.js";
import { JobTemplateErrorCode } from "./errors.js";
import { isWithin, type ScriptFile, scriptFiles } from "./script-dir.js";
import { resolveTemplate } from "./templates.js";
import { type JobVariables, variablesOfFiles } from "./variables.js";

export interface CreateJobOptions {
  /** `-j`: the job folder to create, as the user gave it. */
  readonly jobFolder: string;
  /** `-w`: a template's name or folder. */
  readonly template: string;
  /** `-sd`: the folder copied into each app's custom/. */
  readonly scriptDir?: string;
  /** `-f <file> key=value …`, each group as given. */
  readonly edits?: readonly (readonly string[])[];
  readonly force?: boolean;
  /** Where templates named by `-w` are (default: Cohort's job_templates/). */
  readonly templatesDir?: string;
}

/** One file of the job to write: its path in the job folder ("/"), its text or the file to copy. */
interface PlannedFile {
  readonly rel: string;
  text?: string;
  readonly copyFrom?: string;
  /** A config file: parsed, so -f can edit it (then it is written from `value`). */
  value?: Json;
  edited?: boolean;
}

/** The meta FLARE writes when a template has none (nvflare/tool/job/config/meta.conf). */
const DEFAULT_META: Json = { name: "app", resource_spec: {}, deploy_map: { app: ["@ALL"] } };

/** Where `-f <spec>` points in the job, FLARE's forms: `file`, `<app>/file`, `<app>/config/file`, meta at the root. */
function editTarget(spec: string, files: ReadonlyMap<string, PlannedFile>): PlannedFile {
  const parts = spec.split("/");
  const known = [...files.values()].filter((f) => f.value !== undefined).map((f) => f.rel);
  const refuse = (why: string): CohortError =>
    new CohortError(JobTemplateErrorCode.BadEdit, `-f ${spec}: ${why}; the job's config files are ${known.join(", ")}`, { file: spec, known });
  if (isAbsolute(spec) || parts.some((p) => p === ".." || p === "." || p === ""))
    throw refuse("name a file of the job relative to it (no absolute path, no . or ..)");
  const name = parts[parts.length - 1] as string;
  const rel =
    parts.length === 1
      ? /^meta\./.test(name)
        ? name
        : `app/config/${name}`
      : parts.length === 2
        ? `${parts[0]}/config/${name}`
        : parts.length === 3 && parts[1] === "config"
          ? spec
          : undefined;
  const file = rel === undefined ? undefined : files.get(rel);
  if (!file || file.value === undefined) throw refuse("not one of the job's config files");
  return file;
}

/** Checks where the job folder goes: its parent must exist; an existing folder is replaced only with --force, and only a job folder. */
function checkJobFolder(job: string, shown: string, force: boolean, scriptRoot: string | undefined): void {
  const abs = join(real(dirname(resolve(job))), basename(resolve(job)));
  if (!existsSync(dirname(abs)) || !statSync(dirname(abs)).isDirectory())
    throw new CohortError(
      JobTemplateErrorCode.JobExists,
      `-j ${shown}: ${dirname(shown) || "."} does not exist; create it first (cohort writes only the job folder)`,
      {
        file: shown,
      },
    );
  if (scriptRoot !== undefined && isWithin(abs, scriptRoot))
    throw new CohortError(JobTemplateErrorCode.BadScriptDir, `-j ${shown}: the job folder must not be the script folder or inside it`, { file: shown });
  if (!existsSync(abs) && !isLink(abs)) return;
  if (!force)
    throw new CohortError(JobTemplateErrorCode.JobExists, `-j ${shown}: already exists; pass --force to replace it (everything in it is deleted)`, {
      file: shown,
    });
  const st = lstatSync(abs);
  const isJob = st.isDirectory() && (readdirSync(abs).length === 0 || ["meta.json", "meta.conf"].some((m) => existsSync(join(abs, m))));
  if (!isJob)
    throw new CohortError(
      JobTemplateErrorCode.JobExists,
      `-j ${shown}: exists and is not a job folder (${st.isSymbolicLink() ? "a link" : st.isDirectory() ? "no meta.json or meta.conf" : "not a folder"}); --force replaces only a job folder or an empty one`,
      { file: shown },
    );
  if (isWithin(process.cwd(), abs))
    throw new CohortError(JobTemplateErrorCode.JobExists, `-j ${shown}: holds the current folder; --force will not delete it`, { file: shown });
  if (scriptRoot !== undefined && isWithin(scriptRoot, abs))
    throw new CohortError(JobTemplateErrorCode.BadScriptDir, `-sd: the script folder is inside ${shown}, which --force would delete; move it out first`, {
      file: shown,
    });
}

/** A path with its links resolved as far as it exists (so a link cannot hide that one folder is inside another). */
const real = (p: string): string => (existsSync(p) ? realpathSync(p) : resolve(p));

const isLink = (p: string): boolean => {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
};

export interface CreatedJob {
  /** The variables of its config files (what FLARE prints after create). */
  readonly variables: JobVariables;
  /** What the job loader says about keys it does not read. */
  readonly warnings: readonly string[];
}

/** Creates the job folder, then reads it back as a job. */
export function createJob(o: CreateJobOptions): CreatedJob {
  const template = resolveTemplate(o.template, o.templatesDir);
  const jobName = basename(resolve(o.jobFolder));
  const files = new Map<string, PlannedFile>();

  const metaShown = template.meta ? join(template.shown, template.meta.name) : "meta.conf";
  const meta = template.meta ? parseConfigText(readFileSync(template.meta.path, "utf8"), template.meta.name, metaShown) : structuredClone(DEFAULT_META);
  if (typeof meta !== "object" || meta === null || Array.isArray(meta))
    throw new CohortError(JobTemplateErrorCode.BadTemplate, `${metaShown}: must be an object (name, deploy_map, min_clients)`, { file: metaShown });
  meta["name"] = jobName;
  files.set("meta.conf", { rel: "meta.conf", value: meta, edited: true });

  for (const [app, appFiles] of template.apps)
    for (const f of appFiles) {
      const rel = `${app}/config/${f.name}`;
      const text = readFileSync(f.path, "utf8");
      const isConfig = /^config_fed_(client|server)\.(conf|json)$/.test(f.name);
      files.set(rel, isConfig ? { rel, text, value: parseConfigText(text, f.name, join(template.shown, f.name)) } : { rel, copyFrom: f.path });
    }

  for (const group of o.edits ?? []) {
    const [spec, ...words] = group;
    if (spec === undefined || spec.includes("="))
      throw new CohortError(JobTemplateErrorCode.Usage, `-f ${group.join(" ")}: give the config file first, then key=value …`, {});
    const target = editTarget(spec, files);
    applyEdits(target.value as Json, words, `${o.jobFolder}/${target.rel}`);
    if (words.length > 0) target.edited = true;
  }

  checkJobFolder(o.jobFolder, o.jobFolder, o.force === true, o.scriptDir !== undefined ? real(o.scriptDir) : undefined);
  const scripts: ScriptFile[] = o.scriptDir !== undefined ? scriptFiles(o.scriptDir) : [];

  const job = resolve(o.jobFolder);
  if (existsSync(job) || isLink(job)) rmSync(job, { recursive: true, force: true });
  mkdirSync(job);
  try {
    const write = (rel: string, text: string | undefined, copyFrom?: string): void => {
      const path = join(job, ...rel.split("/"));
      mkdirSync(dirname(path), { recursive: true });
      if (copyFrom !== undefined) copyFileSync(copyFrom, path, constants.COPYFILE_EXCL);
      else writeFileSync(path, text ?? "", { flag: "wx" });
    };
    for (const f of files.values()) write(f.rel, f.edited ? configText(f.value as Json, f.rel) : f.text, f.copyFrom);
    for (const app of template.apps.keys()) {
      mkdirSync(join(job, app, "custom"), { recursive: true });
      for (const s of scripts) write(`${app}/custom/${s.rel}`, undefined, s.source);
    }
  } catch (err) {
    rmSync(job, { recursive: true, force: true });
    throw err;
  }
  const variables = variablesOfFiles(
    [...files.values()].filter((f) => f.value !== undefined).map((f) => ({ rel: f.rel, value: f.value as Json })),
    o.jobFolder,
  );
  return { variables, warnings: loadCheck(job, o.jobFolder) };
}

/** Reads the written job as submit_job and the simulator will (FLARE does not check): its warnings, or why it will not load. */
function loadCheck(job: string, shown: string): readonly string[] {
  try {
    return loadJobFolder(job, { shownAs: shown }).warnings;
  } catch (err) {
    // The folder stays, so the file named can be looked at and fixed.
    throw new CohortError(
      JobTemplateErrorCode.NotLoadable,
      `${shown} was written, but it is not a job Cohort can load: ${err instanceof Error ? err.message : String(err)}; fix that file or create the job again with other -f values`,
      { file: shown },
      { cause: err },
    );
  }
}
