/**
 * A compromised server cannot act as an admin at a site. A real server process, started from its
 * provisioned kit with a test-only preload (test/helpers/compromised-server.ts) that tampers with
 * the signed admin commands it forwards, and two real site processes: each site refuses every
 * altered, redirected, replayed or forged command by itself, leaves an audit line naming the
 * reason, and the admin's console shows a readable refusal naming the refusing site.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_ROOT, tempDir, writeFile } from "../helpers/index.js";
import { stopFederation } from "../helpers/federation.js";
import { adminCli, auditRecords, provisionProject, startParticipantProcess, type CohortProcess } from "../helpers/processes.js";
import type { CompromisePlan } from "../helpers/compromised-server.js";

const SECRET = "site-1 private data, never for the server to read";
let prodDir = "";
let planFile = "";
let server: CohortProcess;
const sites: CohortProcess[] = [];
const kit = (n: string): string => join(prodDir, n);

before(async () => {
  ({ prodDir } = await provisionProject("http", "mtls"));
  writeFile(join(kit("site-1"), "local", "notes.txt"), "public notes\n");
  writeFile(join(kit("site-1"), "local", "secret.txt"), `${SECRET}\n`);
  planFile = writeFile(join(tempDir("cohort-compromised-"), "plan.json"), JSON.stringify({ mode: "pass" }));
  server = startParticipantProcess(kit("localhost"), {
    server: true,
    env: { COHORT_COMPROMISED_PLAN: planFile },
    nodeArgs: ["--import", pathToFileURL(join(REPO_ROOT, "test", "helpers", "compromised-server.ts")).href],
  });
  await server.waitFor(/listening on/);
  for (const s of ["site-1", "site-2"]) sites.push(startParticipantProcess(kit(s)));
  for (const s of ["site-1", "site-2"]) await server.waitFor(new RegExp(`client ${s} .* logged in`));
});

after(() => stopFederation(server, sites));

/**
 * Runs `command` as the project admin while the server follows `plan`; checks that the server did
 * tamper, that the console got a refusal naming `site` with `code`, and that `site` audited it.
 */
async function refused(plan: CompromisePlan, command: string, site: string, code: string, reason: RegExp): Promise<void> {
  writeFile(planFile, JSON.stringify(plan));
  const from = server.mark();
  const r = await adminCli(kit("admin@nvidia.com"), command, 60_000);
  await server.waitFor(new RegExp(`compromised server: ${plan.mode} `), 5_000, from);
  assert.equal(r.code, 1, r.text);
  // The server relays the site's refusal: "error [CODE]: localhost refused: site-1: <reason>".
  assert.match(r.text, new RegExp(`error \\[${code}\\]: localhost refused: ${site}[: ]`), "the console names the refusing site and the reason's code");
  assert.match(r.text, reason);
  assert.doesNotMatch(r.text, new RegExp(SECRET));
  const audit = auditRecords(kit(site));
  const line = audit.findLast((l) => String(l["action"]).startsWith("admin.") && l["code"] === code);
  assert.ok(line, `${site} audits the refusal with ${code}: ${JSON.stringify(audit.slice(-3))}`);
  assert.equal(line["outcome"], "denied");
  assert.match(String(line["reason"]), reason);
  assert.equal(typeof line["ref"], "string", "the audit line references the server's event");
}

describe("a compromised server forwarding admin commands", () => {
  test("untampered, a site command runs (and the server records it)", async () => {
    writeFile(planFile, JSON.stringify({ mode: "pass" }));
    const r = await adminCli(kit("admin@nvidia.com"), "cat site-1 local/notes.txt", 60_000);
    assert.equal(r.code, 0, r.text);
    assert.deepEqual(r.json, { "site-1": "public notes\n" });
  });

  test("arguments altered (another file): the signature does not verify at the site", async () => {
    await refused(
      { mode: "alter", arg: "local/secret.txt" },
      "cat site-1 local/notes.txt",
      "site-1",
      "ERR_AUTH_BAD_SIGNATURE",
      /the signature of admin@nvidia\.com's command does not verify: it was altered on its way/,
    );
  });

  test("redirected to another site: that site refuses a command addressed to site-1", async () => {
    await refused(
      { mode: "redirect", site: "site-2" },
      "cat site-1 local/notes.txt",
      "site-2",
      "ERR_AUTH_WRONG_TARGET",
      /site-2 refuses admin@nvidia\.com's cat: the admin addressed it to site-1/,
    );
  });

  test("replayed (the first command, instead of a new one): refused as already executed", async () => {
    await refused(
      { mode: "replay" },
      "pwd site-1",
      "site-1",
      "ERR_AUTH_REPLAY",
      /this command \(nonce [0-9a-f]{8}…\) was already executed here: replay refused/,
    );
  });

  test("forged with the server's own key, as the admin: refused, the signer is not that admin", async () => {
    await refused(
      { mode: "forge", signer: "server-key", cmd: "cat", args: ["local/secret.txt"] },
      "pwd site-1",
      "site-1",
      "ERR_AUTH_NAME_MISMATCH",
      /the command names user admin@nvidia\.com but is signed by localhost/,
    );
  });

  test("forged without a signature (identity claimed, as FLARE's headers): refused", async () => {
    await refused(
      { mode: "forge", signer: "unsigned", cmd: "cat", args: ["local/secret.txt"] },
      "pwd site-1",
      "site-1",
      "ERR_AUTH_MALFORMED",
      /the admin command is not a signed command/,
    );
  });

  test("the sites still run the admin's untampered commands", async () => {
    writeFile(planFile, JSON.stringify({ mode: "pass" }));
    const r = await adminCli(kit("admin@nvidia.com"), "pwd site-2", 60_000);
    assert.equal(r.code, 0, r.text);
    assert.match(String(r.json["site-2"]), /site-2$/);
  });
});
