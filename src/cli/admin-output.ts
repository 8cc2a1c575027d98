/**
 * The console's human output in FLARE's shapes (nvflare/fuel/hci/table.py and the server's command
 * modules): tables with upper-case headers, `Submitted job: <id>`, dicts as JSON with indent 2.
 * `--json` prints the answer itself instead.
 */

type Row = readonly string[];

/** FLARE's Table.write: a border, the upper-cased header, a border, the rows, a border. */
export function flareTable(headers: readonly string[], rows: readonly Row[]): string {
  const all: Row[] = [headers.map((h) => h.toUpperCase()), ...rows];
  const cols = Math.max(...all.map((r) => r.length));
  const width = Array.from({ length: cols }, (_, i) => Math.max(0, ...all.map((r) => (r[i] ?? " ").length)));
  const border = "-".repeat(width.reduce((a, w) => a + w + 2, 0) + cols + 1);
  const line = (r: Row): string => width.map((w, i) => `${i === 0 ? "" : " "}| ${(r[i] ?? " ").padEnd(w)}${i === cols - 1 ? " |" : ""}`).join("");
  return [border, line(all[0] ?? []), border, ...all.slice(1).map(line), border].join("\n");
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === "string" ? v : v === undefined || v === null ? "" : JSON.stringify(v));
/** A site's refusal inside a per-site answer. */
const refusal = (v: unknown): string | undefined => (isRecord(v) && typeof v["error"] === "string" ? `Error: ${v["error"]}` : undefined);
const dict = (v: unknown): string => JSON.stringify(v, null, 2);

/** Python's time.asctime (FLARE's "last connect time"), in local time: "Tue Dec  8 02:05:09 2026". */
export function asctime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const day = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][d.getDay()] ?? "";
  const month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][d.getMonth()] ?? "";
  const two = (n: number): string => String(n).padStart(2, "0");
  return `${day} ${month} ${String(d.getDate()).padStart(2, " ")} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}

/** Per-site answers, without the server's part (`all` answers carry it beside the sites). */
function siteEntries(result: unknown): [string, unknown][] {
  if (!isRecord(result)) return [];
  const sites = isRecord(result["sites"]) ? result["sites"] : result;
  return Object.entries(sites).filter(([k]) => k !== "server");
}

function checkStatusServer(s: Record<string, unknown>): string {
  const details = Array.isArray(s["client_details"]) ? s["client_details"].filter(isRecord) : [];
  const jobs = Array.isArray(s["running_jobs"]) ? s["running_jobs"].map(str) : [];
  const out = [
    `Engine status: ${str(s["server"])}`,
    flareTable(
      ["job_id", "app name"],
      jobs.map((j) => [j, j]),
    ),
    `Registered clients: ${details.length} `,
  ];
  if (details.length > 0)
    out.push(
      flareTable(
        ["client", "token", "last connect time"],
        details.map((d) => [str(d["name"]), str(d["token"]), asctime(str(d["last_connect_time"]))]),
      ),
    );
  return out.join("\n");
}

function checkStatusClients(entries: [string, unknown][]): string {
  const rows: Row[] = [];
  for (const [site, v] of entries) {
    const err = refusal(v);
    const jobs = isRecord(v) && Array.isArray(v["running_jobs"]) ? v["running_jobs"].map(str) : [];
    if (err) rows.push([site, "?", "?", err]);
    else if (jobs.length === 0) rows.push([site, "?", "?", "No Jobs"]);
    else for (const j of jobs) rows.push([site, j, j, "RUNNING"]);
  }
  return flareTable(["client", "app_name", "job_id", "status"], rows);
}

function metricsTable(v: unknown): string {
  const err = refusal(v);
  if (err) return flareTable(["metrics", "value"], [[err, ""]]);
  return flareTable(
    ["metrics", "value"],
    Object.entries(isRecord(v) ? v : {}).map(([k, x]) => [k, str(x)]),
  );
}

function sitesTable(header: string, result: unknown): string {
  const rows: Row[] = [];
  if (isRecord(result) && "server" in result) rows.push(["server", str(result["server"])]);
  for (const [site, v] of siteEntries(result)) rows.push([site, refusal(v) ?? str(isRecord(v) ? withoutSite(v) : v)]);
  return flareTable(["sites", header], rows);
}

function withoutSite(v: Record<string, unknown>): Record<string, unknown> {
  const { site: _site, ...rest } = v;
  return rest;
}

function shutdownOrRestart(cmd: "shutdown" | "restart", result: unknown): string {
  if (!isRecord(result)) return str(result);
  const all = isRecord(result["sites"]);
  const serverOnly = !all && typeof result["server"] === "string" && cmd in result;
  const serverLine = cmd === "shutdown" ? "FL app has been shutdown." : "Server scheduled for restart";
  if (serverOnly) return serverLine;
  const entries = siteEntries(result);
  const response = (v: unknown): string => refusal(v) ?? (isRecord(v) ? `${cmd} ${str(v[cmd])}` : str(v));
  const sites =
    cmd === "shutdown"
      ? flareTable(
          ["client", "response"],
          entries.map(([s, v]) => [s, response(v)]),
        )
      : entries.map(([s, v]) => `client:${s} : ${response(v)}`).join("\n");
  if (!all) return sites;
  return [
    cmd === "shutdown" ? "Trying to shutdown clients before server..." : "Trying to restart all clients before restarting server...",
    sites,
    serverLine,
  ].join("\n");
}

/** FLARE's text for a command's answer (`args` as typed after the command name). */
export function humanAnswer(cmd: string, args: readonly string[], result: unknown): string {
  const r = isRecord(result) ? result : {};
  switch (cmd) {
    case "submit_job": {
      const warnings = Array.isArray(r["warnings"]) ? r["warnings"].map((w) => `warning: ${str(w)}`) : [];
      return [...warnings, `Submitted job: ${str(r["job_id"])}`].join("\n");
    }
    case "list_jobs": {
      const jobs = Array.isArray(result) ? result.filter(isRecord) : [];
      if (jobs.length === 0) return args.length > 0 ? "No jobs matching the specified criteria." : "No jobs found.";
      if (args.includes("-d")) return jobs.map((j) => JSON.stringify(j, null, 4)).join("\n");
      return flareTable(
        ["Job ID", "Name", "Status", "Submit Time", "Run Duration"],
        jobs.map((j) => [str(j["job_id"]), str(j["name"]), str(j["status"]), str(j["submit_time"]), str(j["duration"] ?? "N/A")]),
      );
    }
    case "abort_job":
      return str(r["message"] ?? `Abort signal has been sent to the server app.`);
    case "clone_job":
      return `Cloned job ${str(r["cloned_from"])} as: ${str(r["job_id"])}`;
    case "delete_job":
      return `Job ${str(r["job_id"])} deleted.`;
    case "delete_workspace":
      return `Workspace of job ${str(r["job_id"])} deleted.`;
    case "reset_errors":
      return `Errors of job ${str(r["job_id"])} reset.`;
    case "download_job":
      return `Download to dir ${str(r["downloaded_to"])}`;
    case "remove_client":
    case "enable_client":
      return "";
    case "check_status": {
      if (args[0] === "server") return checkStatusServer(r);
      if (args[0] === "all") return [checkStatusServer(isRecord(r["server"]) ? r["server"] : {}), checkStatusClients(siteEntries(r))].join("\n");
      return checkStatusClients(siteEntries(r));
    }
    case "sys_info": {
      const parts: string[] = [];
      if ("server" in r) parts.push(metricsTable(withoutSite(isRecord(r["server"]) ? r["server"] : {})));
      for (const [site, v] of siteEntries(r)) parts.push(`Client: ${site}`, metricsTable(isRecord(v) && !refusal(v) ? withoutSite(v) : v));
      return parts.join("\n");
    }
    case "report_resources":
      return sitesTable("resources", result);
    case "report_env":
      return sitesTable("env", result);
    case "show_scopes":
      return flareTable(
        ["site", "scopes", "default"],
        siteEntries(r).map(([site, v]) => {
          const err = refusal(v);
          if (err || !isRecord(v)) return [site, err ?? "", ""];
          const scopes = Array.isArray(v["scopes"]) ? v["scopes"].filter(isRecord).map((s) => str(s["name"])) : [];
          return [site, scopes.join(", "), str(v["default_scope"])];
        }),
      );
    case "shutdown":
    case "restart":
      return shutdownOrRestart(cmd, result);
    case "pwd":
    case "ls":
    case "cat":
    case "head":
    case "tail":
    case "grep":
      return shellText(result);
    default:
      // get_job_meta, show_stats, show_errors, show_privacy_budget: FLARE's write_dict.
      return typeof result === "string" ? result : dict(result);
  }
}

/** A shell command's answer: its text (ls: one name a line), or the site's refusal. */
function shellText(result: unknown): string {
  if (typeof result === "string") return result;
  if (Array.isArray(result)) return result.map(str).join("\n");
  // Forwarded: { site: answer }.
  const [entry] = isRecord(result) ? Object.values(result) : [];
  return refusal(entry) ?? (entry === undefined ? "" : shellText(entry));
}
