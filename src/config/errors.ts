import { CohortError } from "../errors/index.js";

export const ConfigErrorCode = {
  FileNotFound: "ERR_CONFIG_FILE_NOT_FOUND",
  YamlSyntax: "ERR_CONFIG_YAML_SYNTAX",
  Invalid: "ERR_CONFIG_INVALID",
  IncludeEscapes: "ERR_CONFIG_INCLUDE_ESCAPES",
  IncludeCycle: "ERR_CONFIG_INCLUDE_CYCLE",
} as const;

/** One problem in a config file: where (file + field path), what was there, and how to fix it. */
export interface ConfigIssue {
  readonly file: string;
  /** Field path as users write it, e.g. `participants[3].connection_security`. */
  readonly field: string;
  readonly value?: unknown;
  readonly message: string;
  readonly fix?: string;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? String(seg) : `.${String(seg)}`;
  }
  return out === "" ? "(top level)" : out;
}

function showValue(value: unknown): string {
  if (value === undefined) return "missing";
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

export function formatIssue(issue: ConfigIssue): string {
  const value = "value" in issue ? ` (got ${showValue(issue.value)})` : "";
  const fix = issue.fix ? `; ${issue.fix}` : "";
  return `${issue.file}: ${issue.field}: ${issue.message}${value}${fix}`;
}

/** One error for all the problems found, so a user fixes them in one pass. */
export function configInvalid(issues: readonly ConfigIssue[]): CohortError {
  const first = issues[0];
  const lines = issues.map((i) => `  - ${formatIssue(i)}`).join("\n");
  return new CohortError(
    ConfigErrorCode.Invalid,
    issues.length === 1 && first ? formatIssue(first) : `${issues.length} problems in ${first?.file ?? "configuration"}:\n${lines}`,
    { issues, file: first?.file, field: first?.field, value: first?.value },
  );
}
