/**
 * Job templates as FLARE lays them out: a folder holding `config_fed_client.*` and/or
 * `config_fed_server.*`, `meta.conf` (or meta.json), and `info.conf` / `info.md` describing it;
 * or one sub-folder per app holding the configs. Cohort's own templates are in `job_templates/`
 * beside the CLI; any other (FLARE's) is used by its path (`-w <folder>`).
 */
import { existsSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { CohortError } from "../../errors/index.js";
import { repoRoot } from "../paths.js";
import { type Json, readConfigFile } from "./config-tree.js";
import { JobTemplateErrorCode } from "./errors.js";

/** Cohort's own templates (job_templates/ at the top of the repository, beside dist/ and src/). */
export function builtinTemplatesDir(): string {
  return join(repoRoot(), "job_templates");
}

const CONFIG_FILE = /^config_fed_(client|server)\.(conf|json)$/;
const META_FILE = /^meta\.(conf|json)$/;
/** Files of a template that describe it and are not copied into the job (as FLARE's remove_extra_files). */
const DESCRIPTION_FILES = new Set(["info.conf", "info.md", "__init__.py"]);
const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface TemplateFile {
  readonly name: string;
  readonly path: string;
}

export interface TemplateSource {
  /** The template as messages name it: its name, or the path the user gave. */
  readonly shown: string;
  readonly dir: string;
  readonly meta?: TemplateFile;
  /** Each app's files (configs and other files of the template), by app name ("app" for a one-app template). */
  readonly apps: ReadonlyMap<string, readonly TemplateFile[]>;
}

export interface TemplateInfo {
  readonly name: string;
  readonly description: string;
  readonly controllerType: string;
  readonly executionApiType: string;
}

const hasConfigs = (dir: string): boolean => readdirSync(dir).some((f) => CONFIG_FILE.test(f));

/** The files of one template folder that go into an app's config/: regular files only, never a link. */
function appFiles(dir: string, shown: string, root: boolean): TemplateFile[] {
  const out: TemplateFile[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (DESCRIPTION_FILES.has(name) || name === "__pycache__" || (root && META_FILE.test(name))) continue;
    if (st.isDirectory() && root) continue; // an app folder, read on its own
    if (!st.isFile())
      throw new CohortError(
        JobTemplateErrorCode.BadTemplate,
        `${join(shown, name)}: ${st.isSymbolicLink() ? "a link" : "not a file"}; a template holds plain files (and one folder per app)`,
        { file: join(shown, name) },
      );
    out.push({ name, path });
  }
  return out;
}

/** Reads a template folder: its meta and each app's files. */
export function readTemplate(dir: string, shown: string): TemplateSource {
  const apps = new Map<string, TemplateFile[]>();
  for (const name of readdirSync(dir).sort()) {
    const sub = join(dir, name);
    if (!lstatSync(sub).isDirectory() || name === "__pycache__" || !hasConfigs(sub)) continue;
    if (!APP_NAME.test(name))
      throw new CohortError(JobTemplateErrorCode.BadTemplate, `${join(shown, name)}: not a usable app name (letters, digits, . _ -)`, {
        file: join(shown, name),
      });
    apps.set(name, appFiles(sub, join(shown, name), false));
  }
  if (hasConfigs(dir)) {
    if (apps.size > 0)
      throw new CohortError(JobTemplateErrorCode.BadTemplate, `${shown}: has config files both at its top and in app folders; keep one layout`, {
        file: shown,
      });
    apps.set("app", appFiles(dir, shown, true));
  }
  if (apps.size === 0)
    throw new CohortError(
      JobTemplateErrorCode.BadTemplate,
      `${shown}: not a job template (no config_fed_client or config_fed_server .conf/.json in it or in an app folder)`,
      { file: shown },
    );
  const metaName = ["meta.conf", "meta.json"].find((m) => existsSync(join(dir, m)) && lstatSync(join(dir, m)).isFile());
  return { shown, dir, ...(metaName ? { meta: { name: metaName, path: join(dir, metaName) } } : {}), apps };
}

function infoOf(dir: string, name: string, shown: string): TemplateInfo {
  const file = join(dir, "info.conf");
  const info: Json = existsSync(file) ? readConfigFile(file, "info.conf", join(shown, "info.conf")).value : {};
  const field = (key: string): string => {
    const v = typeof info === "object" && info !== null && !Array.isArray(info) ? info[key] : undefined;
    return v === undefined || v === null ? "NA" : String(v);
  };
  return { name, description: field("description"), controllerType: field("controller_type"), executionApiType: field("execution_api_type") };
}

/** A template folder: config files in it or in an app folder of it (FLARE's build_job_template_indices), or its info.conf. */
function isTemplateDir(dir: string): boolean {
  return (
    existsSync(join(dir, "info.conf")) || hasConfigs(dir) || readdirSync(dir).some((a) => lstatSync(join(dir, a)).isDirectory() && hasConfigs(join(dir, a)))
  );
}

/** The templates in `dir` (each sub-folder that is a template), sorted by name. */
export function listTemplates(dir: string, shownDir = dir): TemplateInfo[] {
  if (!existsSync(dir) || !lstatSync(dir).isDirectory())
    throw new CohortError(JobTemplateErrorCode.UnknownTemplate, `${shownDir}: no such folder of job templates`, { file: shownDir });
  return readdirSync(dir)
    .sort()
    .filter((name) => lstatSync(join(dir, name)).isDirectory() && isTemplateDir(join(dir, name)))
    .map((name) => infoOf(join(dir, name), name, join(shownDir, name)));
}

/**
 * `-w`: a folder (a template's path, e.g. FLARE's job_templates/sag_np) or the name of one of
 * Cohort's templates. An unknown name is refused with the names there are.
 */
export function resolveTemplate(w: string, templatesDir = builtinTemplatesDir()): TemplateSource {
  const folder = existsSync(w) && lstatSync(w).isDirectory();
  // A folder that is a template wins; else a template's name does (a job folder named after its template is no template).
  if (folder && isTemplateDir(w)) return readTemplate(w, w);
  const known = listTemplates(templatesDir).map((t) => t.name);
  if (/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(w) && known.includes(w)) return readTemplate(join(templatesDir, w), w);
  if (folder) return readTemplate(w, w);
  throw new CohortError(
    JobTemplateErrorCode.UnknownTemplate,
    `-w ${JSON.stringify(w)}: no such template folder, and not a template name; the templates are ${known.join(", ")} (cohort job list_templates), or give a template's folder`,
    { value: w, known },
  );
}
