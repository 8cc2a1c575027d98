import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BuilderSpec, ParticipantSpec } from "../../config/index.js";
import { allParticipants, kitDir, type Builder, type ProvisionContext } from "../context.js";
import { fedAdminJson, fedClientJson, fedServerJson, type StaticFileOptions } from "../templates/startup-configs.js";
import { flAdminSh, startSh, stopFlSh, subStartSh } from "../templates/scripts.js";
import { ADMIN_RESOURCES, clientResources, DEFAULT_AUTHORIZATION, LOG_CONFIG, PRIVACY_SAMPLE, serverResources } from "../templates/local-files.js";
import { readmeTxt } from "../templates/readme.js";

const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

function writeExecutable(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o755 });
}

/** Writes every configuration file, script and readme of each kit (FLARE's StaticFileBuilder). */
export function staticFileBuilder(spec: Extract<BuilderSpec, { kind: "static_file" }>): Builder {
  const opts: StaticFileOptions = {
    scheme: spec.scheme,
    configFolder: spec.configFolder,
    ...(spec.requireSignedJobs !== undefined ? { requireSignedJobs: spec.requireSignedJobs } : {}),
    ...(spec.downloadJobUrl !== undefined ? { downloadJobUrl: spec.downloadJobUrl } : {}),
  };
  return {
    spec,
    build(ctx: ProvisionContext) {
      for (const p of allParticipants(ctx.project)) writeKit(ctx, p, opts);
    },
  };
}

function writeKit(ctx: ProvisionContext, p: ParticipantSpec, opts: StaticFileOptions): void {
  const dir = kitDir(ctx, p);
  const startup = join(dir, "startup");
  const local = join(dir, "local");
  writeFileSync(join(dir, "readme.txt"), readmeTxt(ctx.project, p, ctx.root?.fingerprint));
  if (p.type === "admin") {
    writeFileSync(join(startup, "fed_admin.json"), json(fedAdminJson(ctx.project, p, opts)));
    writeExecutable(join(startup, "fl_admin.sh"), flAdminSh());
    writeFileSync(join(local, "resources.json.default"), json(ADMIN_RESOURCES));
  } else {
    if (p.type === "server") {
      writeFileSync(join(startup, "fed_server.json"), json(fedServerJson(ctx.project, opts)));
      writeFileSync(join(local, "resources.json.default"), json(serverResources(p)));
    } else {
      writeFileSync(join(startup, "fed_client.json"), json(fedClientJson(ctx.project, p, opts)));
      writeFileSync(join(local, "resources.json.default"), json(clientResources(p)));
    }
    writeExecutable(join(startup, "start.sh"), startSh(p.name));
    writeExecutable(join(startup, "sub_start.sh"), subStartSh(p.name));
    writeExecutable(join(startup, "stop_fl.sh"), stopFlSh(p.name));
    writeFileSync(join(local, "authorization.json.default"), json(DEFAULT_AUTHORIZATION));
    writeFileSync(join(local, "privacy.json.sample"), json(PRIVACY_SAMPLE));
    writeFileSync(join(local, "log_config.json.default"), json(LOG_CONFIG));
  }
  if (p.type !== "server" && p.customCaCert) copyFileSync(p.customCaCert, join(startup, "customRootCA.pem"));
}
