/**
 * A private nginx for proxy tests: its own config, prefix, pid and logs in a temp dir, bound to
 * 127.0.0.1 only, never the system service. `.ci/run` installs nginx and libnginx-mod-stream.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { tempDir, writeFile } from "./index.js";
import { STREAM_MODULE } from "./requirements.js";

export class Nginx {
  private constructor(
    private readonly child: ChildProcess,
    readonly prefix: string,
  ) {}

  /** Starts nginx with `http` and/or `stream` blocks (their bodies given as config text). */
  static async start(blocks: { http?: string; stream?: string }, waitPorts: readonly number[]): Promise<Nginx> {
    const prefix = tempDir("cohort-nginx-");
    for (const d of ["logs", "tmp"]) mkdirSync(join(prefix, d), { recursive: true });
    const conf = writeFile(
      join(prefix, "nginx.conf"),
      `${blocks.stream ? `load_module ${STREAM_MODULE};\n` : ""}${process.getuid?.() === 0 ? "user root root;\n" : ""}worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log info;
events { worker_connections 256; }
${
  blocks.http
    ? `http {
  access_log ${prefix}/logs/access.log;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  client_max_body_size 0;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
${blocks.http}
}`
    : ""
}
${blocks.stream ? `stream {\n${blocks.stream}\n}` : ""}
`,
    );
    const test = spawnSync("nginx", ["-t", "-p", prefix, "-c", conf], { encoding: "utf8" });
    if (test.status !== 0) throw new Error(`nginx config test failed:\n${test.stderr}\n${readFileSync(conf, "utf8")}`);
    const child = spawn("nginx", ["-p", prefix, "-c", conf, "-g", "daemon off;"], { stdio: ["ignore", "ignore", "pipe"] });
    const n = new Nginx(child, prefix);
    for (const port of waitPorts) await waitForPort(port);
    return n;
  }

  errorLog(): string {
    try {
      return readFileSync(join(this.prefix, "logs", "error.log"), "utf8");
    } catch {
      return "";
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.on("exit", r));
    this.child.kill("SIGQUIT");
    const t = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(t);
  }
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: "127.0.0.1", port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
