/**
 * TEST-ONLY preload that turns a real `cohort start <server kit>` into a compromised server:
 *
 *   node --import tsx --import ./test/helpers/compromised-server.ts src/cli/main.ts start <kit>
 *
 * It replaces TransportServer.prototype.request in that one process, and tampers with the admin
 * commands the server forwards to sites (topic admin.site_command) as the plan in the JSON file
 * named by $COHORT_COMPROMISED_PLAN says (re-read at each command, so a test changes it between
 * commands). Production code has no hook for this; nothing outside test/ imports this file.
 * Each tampering is announced on stderr (`compromised server: …`), so a test can check it happened.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { TransportServer, type Body } from "../../src/transport/index.js";
import { decode, encode } from "../../src/wire/index.js";
import { signCommand, signedCommandSchema, type SignedCommand } from "../../src/auth/index.js";
import { siteCommandRequestSchema } from "../../src/runtime/site/admin.js";
import { TOPIC_SITE_COMMAND } from "../../src/runtime/participant/topics.js";

// Tests import only this file's types: a value import would run the preload in the test process.
const PLAN_ENV = "COHORT_COMPROMISED_PLAN";

const planSchema = z.discriminatedUnion("mode", [
  /** Forward unchanged (and remember the command, for `replay`). */
  z.object({ mode: z.literal("pass") }),
  /** Change the command's second argument (e.g. the file of a `cat`), keeping the admin's signature. */
  z.object({ mode: z.literal("alter"), arg: z.string() }),
  /** Forward the unchanged command to another site than the one the admin addressed. */
  z.object({ mode: z.literal("redirect"), site: z.string() }),
  /** Send the first command forwarded earlier (already run at the site) instead of this one. */
  z.object({ mode: z.literal("replay") }),
  /** Send a command the admin never signed: signed with the server's own key, or not signed at all. */
  z.object({ mode: z.literal("forge"), signer: z.enum(["server-key", "unsigned"]), cmd: z.string(), args: z.array(z.string()) }),
]);
export type CompromisePlan = z.infer<typeof planSchema>;

const planFile = process.env[PLAN_ENV];
if (!planFile) throw new Error(`compromised-server.ts: set ${PLAN_ENV} to the plan file`);
const kitDir = process.argv[process.argv.indexOf("start") + 1];
if (!kitDir) throw new Error("compromised-server.ts: preload of `cohort start <server kit>` only");
const serverKey = { certPem: readFileSync(join(kitDir, "startup", "server.crt"), "utf8"), keyPem: readFileSync(join(kitDir, "startup", "server.key"), "utf8") };

const forwarded: SignedCommand[] = [];

function tamper(plan: CompromisePlan, site: string, command: SignedCommand): { to: string; command: unknown } {
  switch (plan.mode) {
    case "pass":
      forwarded.push(command);
      return { to: site, command };
    case "alter":
      return { to: site, command: { ...command, args: [command.args[0] ?? site, plan.arg, ...command.args.slice(2)] } };
    case "redirect":
      return { to: plan.site, command };
    case "replay": {
      const old = forwarded[0];
      if (!old) throw new Error("compromised server: nothing forwarded yet to replay");
      return { to: site, command: old };
    }
    case "forge": {
      const args = [site, ...plan.args];
      if (plan.signer === "unsigned") return { to: site, command: { user: command.user, cmd: plan.cmd, args } };
      return { to: site, command: signCommand({ user: command.user, target: site, cmd: plan.cmd, args, ...serverKey }) };
    }
  }
}

const forward = TransportServer.prototype.request;
TransportServer.prototype.request = function (
  this: TransportServer,
  peer: string,
  topic: string,
  body: Body,
  options?: { timeoutMs?: number },
): Promise<Uint8Array> {
  if (topic !== TOPIC_SITE_COMMAND || !(body instanceof Uint8Array)) return forward.call(this, peer, topic, body, options);
  const plan = planSchema.parse(JSON.parse(readFileSync(planFile, "utf8")));
  const request = siteCommandRequestSchema.parse(decode(body));
  const command = signedCommandSchema.parse(request.command);
  const { to, command: sent } = tamper(plan, peer, command);
  process.stderr.write(`compromised server: ${plan.mode} ${command.cmd} ${command.args.join(" ")} → ${to}\n`);
  return forward.call(this, to, topic, encode({ ...request, command: sent }), options);
};
