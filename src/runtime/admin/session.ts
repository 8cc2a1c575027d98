import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { CohortError, isCohortError } from "../../errors/index.js";
import { JobSignatureErrorCode, signJob, verifyJobManifest, verifyStartupKit } from "../../pki/index.js";
import { loadKitConfig, ConfigErrorCode } from "../../config/index.js";
import { decode, encode, bytesSchema } from "../../wire/index.js";
import { driverFor, TransportClient } from "../../transport/index.js";
import { TOPIC_ADMIN } from "../participant/topics.js";
import { splitCommandLine } from "./command-line.js";
import { signCommand } from "../../auth/index.js";
import { AdminErrorCode } from "./errors.js";
import { validateCommand } from "./validate.js";
import { loadJobFolder } from "../jobs/definition.js";

// tar (through ./archive.js) is loaded only by submit_job and download_job: most commands are short.
const loadArchive = (): Promise<typeof import("../jobs/archive.js")> => import("../jobs/archive.js");

/**
 * An admin's session with the server, from the admin's startup kit: logs in (type admin) and
 * runs console commands. Used by `cohort admin` and by programs (the TypeScript admin API).
 */
export class AdminSession {
  private constructor(
    private readonly client: TransportClient,
    readonly kitDir: string,
    private readonly signer: { certPem: string; keyPem: string },
    /** The project's root certificate: the console checks a stored job's manifest before it re-signs it (clone_job). */
    private readonly rootPem: string,
    /** The admin's name (certificate CN). */
    readonly user: string,
    /** Attached to every command for sites that require an identity-provider token. */
    private readonly oidcToken?: string,
  ) {}

  static async open(kitDir: string, options: { log?: (line: string) => void; oidcToken?: string } = {}): Promise<AdminSession> {
    const verified = verifyStartupKit(kitDir);
    const kit = loadKitConfig(kitDir);
    if (kit.type !== "admin")
      throw new CohortError(ConfigErrorCode.Invalid, `${kitDir} is not an admin kit (no startup/fed_admin.json); give an admin's participant folder`, {
        file: kitDir,
      });
    const a = kit.config.admin;
    const read = (f: string): string => readFileSync(join(kitDir, "startup", f), "utf8");
    const client = new TransportClient({
      name: verified.name,
      type: "admin",
      project: a.project_name,
      certPem: read(a.client_cert),
      keyPem: read(a.client_key),
      rootPem: read(a.ca_cert),
      ...(a.custom_ca_cert ? { customCaPem: read(a.custom_ca_cert) } : {}),
      serverName: a.server_identity,
      driver: driverFor(a.scheme),
      host: a.host,
      port: a.port,
      security: a.connection_security,
      ...(options.log ? { log: options.log } : {}),
    });
    await client.connectOnce();
    return new AdminSession(client, kitDir, { certPem: read(a.client_cert), keyPem: read(a.client_key) }, read(a.ca_cert), verified.name, options.oidcToken);
  }

  /** Runs one command; resolves with the server's answer (plain data) or rejects with its refusal. */
  async run(line: string, options: { onProgress?: (done: number, total: number) => void } = {}): Promise<unknown> {
    const [cmd, ...args] = splitCommandLine(line.trim());
    if (!cmd) throw new CohortError(AdminErrorCode.Usage, "empty command", {});
    validateCommand(cmd, args);
    if (cmd === "submit_job") {
      const folder = args[0];
      if (!folder) throw new CohortError(AdminErrorCode.Usage, "submit_job <job folder>", {});
      const dir = this.resolveJobFolder(folder);
      // Sign a copy (the admin's folder is left untouched): every site checks the signature.
      const tmp = mkdtempSync(join(tmpdir(), "cohort-signed-job-"));
      try {
        cpSync(dir, tmp, { recursive: true, dereference: false });
        // Checked here first, so errors and warnings name the admin's own folder (meta.json or meta.conf).
        const job = loadJobFolder(tmp, { shownAs: dir });
        signJob(tmp, this.signer, { jobName: job.meta.name });
        const answer = await this.call(cmd, [folder], await (await loadArchive()).packFolder(tmp));
        return job.warnings.length > 0 && typeof answer === "object" && answer !== null ? { ...answer, warnings: job.warnings } : answer;
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
    if (cmd === "clone_job" && args.length === 1 && args[0]) return this.cloneJob(args[0]);
    const answer = await this.call(cmd, args);
    if (cmd === "download_job" && args.length === 1) {
      const r = z
        .object({ job_id: z.string(), meta: z.unknown(), total_bytes: z.number().int().nonnegative(), parts: z.number().int().positive() })
        .parse(answer);
      const archive = new Uint8Array(r.total_bytes);
      let received = 0;
      for (let i = 0; i < r.parts; i++) {
        const part = z.object({ bytes: bytesSchema() }).parse(await this.call(cmd, [r.job_id, String(i)]));
        if (received + part.bytes.byteLength > archive.byteLength)
          throw new CohortError(AdminErrorCode.Download, "the server sent more bytes than it announced", {});
        archive.set(part.bytes, received);
        received += part.bytes.byteLength;
        options.onProgress?.(received, r.total_bytes);
      }
      if (received !== r.total_bytes) throw new CohortError(AdminErrorCode.Download, `download_job ${r.job_id}: got ${received} of ${r.total_bytes} bytes`, {});
      const dest = join(this.kitDir, "transfer", r.job_id);
      mkdirSync(dest, { recursive: true });
      await (await loadArchive()).unpackArchive(archive, join(dest, "workspace"));
      writeFileSync(join(dest, "meta.json"), `${JSON.stringify(r.meta, null, 2)}\n`);
      return { job_id: r.job_id, downloaded_to: dest, bytes: received };
    }
    return answer;
  }

  /**
   * Submits an already packed job archive (for programs that sign jobs themselves; the console
   * signs folders with `submit_job`). The server and every site verify its signature.
   */
  async submitArchive(archive: Uint8Array, label = "archive"): Promise<unknown> {
    return this.call("submit_job", [label], archive);
  }

  /**
   * clone_job: the server hands over the stored job; the console checks its files against the
   * manifest its submitter signed, then signs a fresh manifest (new nonce and time) with this
   * admin's key and sends it back. The server checks that the content is the stored job's.
   */
  private async cloneJob(id: string): Promise<unknown> {
    const stored = z.object({ job_id: z.string(), archive: bytesSchema() }).parse(await this.call("clone_job", [id]));
    const archive = await loadArchive();
    const tmp = mkdtempSync(join(tmpdir(), "cohort-clone-"));
    try {
      await archive.unpackArchive(stored.archive, tmp);
      let jobName: string;
      try {
        jobName = verifyJobManifest(tmp, this.rootPem).manifest.job_name;
      } catch (err) {
        throw new CohortError(
          isCohortError(err) ? err.code : JobSignatureErrorCode.Tampered,
          `clone_job ${id}: the stored job does not match a manifest signed by an admin of this project, so it is not re-signed: ${(err as Error).message}`,
          { jobId: id },
          { cause: err },
        );
      }
      signJob(tmp, this.signer, { jobName });
      return await this.call("clone_job", [id], await archive.packFolder(tmp));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  private resolveJobFolder(folder: string): string {
    const candidates = isAbsolute(folder) ? [folder] : [resolve(folder), join(this.kitDir, "transfer", folder)];
    for (const c of candidates) if (existsSync(c) && statSync(c).isDirectory()) return c;
    throw new CohortError(AdminErrorCode.Usage, `job folder ${folder} not found (looked in ${candidates.join(", ")})`, { folder });
  }

  /** Every command is signed with the admin's kit key: sites check it themselves. */
  private async call(cmd: string, args: readonly string[], archive?: Uint8Array): Promise<unknown> {
    const command = signCommand({
      user: this.user,
      target: args[0] ?? "server",
      cmd,
      args,
      certPem: this.signer.certPem,
      keyPem: this.signer.keyPem,
      ...(this.oidcToken ? { oidc: this.oidcToken } : {}),
    });
    return decode(await this.client.request(TOPIC_ADMIN, encode({ command, ...(archive ? { archive } : {}) }), { timeoutMs: 120_000 }));
  }

  async close(): Promise<void> {
    await this.client.stop();
  }
}
