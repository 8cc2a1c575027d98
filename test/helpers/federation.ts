/**
 * A real federation for integration tests: a project.yml with a server, sites and one admin on
 * 127.0.0.1 (ephemeral port), provisioned; `cohort start` for the server and every site; resolves
 * when every site has logged in.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { provision } from "../../src/provision/index.js";
import { freePort, tempDir, writeFile } from "./index.js";
import { startParticipantProcess, type CohortProcess, type JobWatcher } from "./processes.js";

export interface Federation {
  readonly dir: string;
  readonly prodDir: string;
  kit(name: string): string;
  readonly server: CohortProcess;
  readonly sites: Map<string, CohortProcess>;
}

export interface FederationOptions {
  /** Project name (also the temp folder's prefix). */
  readonly project: string;
  readonly sites: readonly string[];
  /** Sites provisioned but not started (a test drives them itself). */
  readonly idleSites?: readonly string[];
  /** A project_admin of org nvidia… */
  readonly admin?: string;
  /** …or these admins. */
  readonly admins?: readonly { readonly name: string; readonly org: string; readonly role: string }[];
  /** A site's org (default org_<last character of its name>). */
  readonly orgOf?: (site: string) => string;
  /** A `builders:` section (YAML) instead of the default builders. */
  readonly builders?: string;
  /** Runs after provisioning, before anything starts (local/ files, scheduler settings…). */
  readonly prepare?: (kit: (name: string) => string, dir: string) => void;
  /** Environment and test-only preload modules for the server process. */
  readonly server?: { readonly env?: Record<string, string>; readonly preloads?: readonly string[] };
}

export async function startFederation(o: FederationOptions): Promise<Federation> {
  const dir = tempDir(`cohort-${o.project.replace(/_/g, "-")}-`);
  const admins = o.admins ?? (o.admin ? [{ name: o.admin, org: "nvidia", role: "project_admin" }] : []);
  const port = await freePort();
  const file = writeFile(
    join(dir, "project.yml"),
    `api_version: 3
name: ${o.project}
participants:
  - {name: localhost, type: server, org: nvidia, fed_learn_port: ${port}, host_names: [127.0.0.1]}
${[...o.sites, ...(o.idleSites ?? [])].map((s) => `  - {name: ${s}, type: client, org: ${o.orgOf?.(s) ?? `org_${s.slice(-1)}`}, connect_to: 127.0.0.1}`).join("\n")}
${admins.map((a) => `  - {name: ${a.name}, type: admin, org: ${a.org}, role: ${a.role}}`).join("\n")}
${o.builders ?? ""}`,
  );
  const prodDir = (await provision({ projectFile: file, workspace: join(dir, "ws") })).prodDir;
  const kit = (name: string): string => join(prodDir, name);
  o.prepare?.(kit, dir);
  const server = startParticipantProcess(kit("localhost"), {
    server: true,
    ...(o.server?.env ? { env: o.server.env } : {}),
    ...(o.server?.preloads ? { nodeArgs: o.server.preloads.flatMap((m) => ["--import", m]) } : {}),
  });
  const sites = new Map<string, CohortProcess>();
  // Four tsx processes starting on two shared cores can take well over 20 s.
  const startMs = 90_000;
  try {
    await server.waitFor(/listening on/, startMs);
    for (const s of o.sites) sites.set(s, startParticipantProcess(kit(s)));
    for (const s of o.sites) await server.waitFor(new RegExp(`client ${s} .* logged in`), startMs);
  } catch (err) {
    // The caller never gets these processes to stop: left running, they would keep the test file from ending.
    await Promise.all([...sites.values(), server].map((p) => p.stop()));
    throw err;
  }
  return { dir, prodDir, kit, server, sites };
}

/** Sets the server's job_scheduler arguments in local/resources.json (from the kit's .default). */
export function configureScheduler(serverKit: string, args: Record<string, unknown>): void {
  const res = JSON.parse(readFileSync(join(serverKit, "local", "resources.json.default"), "utf8")) as {
    components: { id: string; args: Record<string, unknown> }[];
  };
  const sched = res.components.find((c) => c.id === "job_scheduler");
  if (sched) Object.assign(sched.args, args);
  writeFile(join(serverKit, "local", "resources.json"), JSON.stringify(res));
}

/** Ends a federation test file: the admin session first, then the sites, then the server (clean stops write final audit checkpoints). */
export async function stopFederation(server: CohortProcess, sites: Iterable<CohortProcess>, watcher?: JobWatcher): Promise<void> {
  await watcher?.close();
  for (const p of sites) await p.stop();
  await server.stop();
}
