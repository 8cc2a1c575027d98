/**
 * FLARE's target grammar and the shell commands' allow-lists: what parses, what is refused, and
 * that no hostile token (long options, `..`, absolute paths, shell syntax) gets through.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  AdminErrorCode,
  addressedSites,
  parseListJobsArgs,
  parseShellArgs,
  parseSingleTarget,
  parseTargets,
  validateCommand,
} from "../../../src/runtime/admin/index.js";
import { isCohortError } from "../../../src/errors/index.js";
import { assertAddressedTo, AuthErrorCode, type SignedCommand } from "../../../src/auth/index.js";

const refused = (f: () => unknown, re?: RegExp, code: string = AdminErrorCode.Usage): void =>
  assert.throws(f, (e: unknown) => isCohortError(e) && e.code === code && (!re || re.test(e.message)));
const badPath = (f: () => unknown, re: RegExp): void => refused(f, re, AdminErrorCode.Path);

test("targets: server, client [names…], all, and Cohort's @ALL and bare site name", () => {
  assert.deepEqual(parseTargets("restart", ["server"]), { server: true, sites: [] });
  assert.deepEqual(parseTargets("restart", ["client"]), { server: false, sites: "every" });
  assert.deepEqual(parseTargets("restart", ["client", "site-1"]), { server: false, sites: ["site-1"] });
  assert.deepEqual(parseTargets("restart", ["client", "site-1", "site-2", "site-1"]), { server: false, sites: ["site-1", "site-2"] });
  assert.deepEqual(parseTargets("shutdown", ["all"]), { server: true, sites: "every" });
  assert.deepEqual(parseTargets("sys_info", ["@ALL"]), { server: false, sites: "every" });
  assert.deepEqual(parseTargets("sys_info", ["site-2"]), { server: false, sites: ["site-2"] });
});

test("targets: what cannot be parsed is refused with the reason", () => {
  refused(() => parseTargets("shutdown", []), /missing target type/);
  refused(() => parseTargets("shutdown", ["server", "site-1"]), /server takes no site names/);
  refused(() => parseTargets("shutdown", ["all", "site-1"]), /all takes no site names/);
  refused(() => parseTargets("shutdown", ["client", "server"]), /target type, not a site name/);
  refused(() => parseTargets("shutdown", ["client", "--force"]), /not a site name/);
  refused(() => parseTargets("shutdown", ["client", "site-1;rm"]), /not a site name/);
  refused(() => parseTargets("shutdown", ["site-1", "site-2"]), /unknown target type/);
  refused(() => parseTargets("shutdown", ["-rf"]), /not a site name/);
  refused(() => parseSingleTarget("ls", "client"), /one site at a time/);
  refused(() => parseSingleTarget("ls", "all"), /one site at a time/);
  refused(() => parseSingleTarget("ls", undefined), /missing target/);
  assert.equal(parseSingleTarget("ls", "server"), "server");
});

test("a site reads the targets the admin signed: `restart client site-1` does not address site-2", () => {
  assert.deepEqual(addressedSites("restart", ["client", "site-1"]), ["site-1"]);
  assert.equal(addressedSites("restart", ["all"]), "every");
  assert.deepEqual(addressedSites("shutdown", ["server"]), []);
  assert.deepEqual(addressedSites("ls", ["site-1", "-a"]), ["site-1"]);
  assert.deepEqual(addressedSites("cat", ["site-2", "local/x.txt"]), ["site-2"]);
});

test("a site refuses a signed command whose targets do not name it (restart client site-1 at site-2)", () => {
  // Only cmd, args and user are read: the signature was checked before.
  const signed = (cmd: string, args: string[]): SignedCommand => ({ cmd, args, user: "admin@a.org" }) as unknown as SignedCommand;
  const wrongTarget = (e: unknown): boolean => isCohortError(e) && e.code === AuthErrorCode.WrongTarget;
  assert.throws(() => assertAddressedTo(signed("restart", ["client", "site-1"]), "site-2", addressedSites), wrongTarget);
  assert.throws(() => assertAddressedTo(signed("shutdown", ["client", "site-1", "site-3"]), "site-2", addressedSites), wrongTarget);
  assert.throws(() => assertAddressedTo(signed("shutdown", ["server"]), "site-2", addressedSites), wrongTarget);
  assert.throws(() => assertAddressedTo(signed("ls", ["site-1", "-a"]), "site-2", addressedSites), wrongTarget);
  assert.throws(
    () => assertAddressedTo(signed("restart", ["client", "--all"]), "site-2", addressedSites),
    (e) => isCohortError(e),
  );
  assertAddressedTo(signed("restart", ["client", "site-1", "site-2"]), "site-2", addressedSites);
  assertAddressedTo(signed("restart", ["all"]), "site-2", addressedSites);
  assertAddressedTo(signed("sys_info", ["@ALL"]), "site-2", addressedSites);
});

test("targets: any word list parses to named sites it contains, or is refused; never throws anything else", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constantFrom("server", "client", "all", "@ALL", "site-1", "-a", "..", "$(id)"), fc.string()), { maxLength: 6 }),
      (words) => {
        try {
          const t = parseTargets("sys_info", words);
          if (t.sites !== "every") for (const s of t.sites) assert.ok(words.includes(s) && /^[A-Za-z0-9]/.test(s));
        } catch (e) {
          assert.ok(isCohortError(e) && e.code === AdminErrorCode.Usage, String(e));
        }
      },
    ),
  );
});

test("ls/cat/head/tail/grep: FLARE's options are allowed, others refused by name", () => {
  assert.deepEqual([...parseShellArgs("ls", ["-a"]).flags], ["a"]);
  assert.equal(parseShellArgs("ls", ["-a"]).file, undefined, "`ls site-1 -a` lists the folder: -a is no file name");
  assert.deepEqual([...parseShellArgs("ls", ["-al", "local"]).flags].sort(), ["a", "l"]);
  assert.equal(parseShellArgs("ls", ["-l", "local"]).file, "local");
  assert.equal(parseShellArgs("tail", ["-n", "5", "log.txt"]).lines, 5);
  assert.equal(parseShellArgs("tail", ["-n5", "log.txt"]).lines, 5);
  assert.equal(parseShellArgs("head", ["log.txt", "3"]).lines, 3, "Cohort's older head <site> <file> <lines>");
  assert.equal(parseShellArgs("head", ["-c", "100", "log.txt"]).bytes, 100);
  const g = parseShellArgs("grep", ["-n", "-i", "-v", "error", "log.txt"]);
  assert.deepEqual([g.pattern, g.file, [...g.flags].sort()], ["error", "log.txt", ["i", "n", "v"]]);
  assert.equal(parseShellArgs("grep", ["--", "-x", "log.txt"]).pattern, "-x", "after --, a word starting with - is the pattern");
  refused(() => parseShellArgs("ls", ["--exec"]), /option "--exec" is not allowed/);
  refused(() => parseShellArgs("ls", ["-x"]), /option -x is not allowed \(allowed: -a, -l/);
  refused(() => parseShellArgs("cat", ["-e", "f.txt"]), /option -e is not allowed/);
  refused(() => parseShellArgs("grep", ["-r", "x", "f.txt"]), /option -r is not allowed/);
  refused(() => parseShellArgs("grep", ["-e", "x", "f.txt"]), /option -e is not allowed/);
  refused(() => parseShellArgs("tail", ["-f", "log.txt"]), /option -f is not allowed/);
  refused(() => parseShellArgs("tail", ["-n", "x", "log.txt"]), /-n needs a number/);
  refused(() => parseShellArgs("cat", []), /a file is required/);
  refused(() => parseShellArgs("cat", ["a.txt", "b.txt"]), /only one file/);
  refused(() => parseShellArgs("grep", ["pattern"]), /a file is required/);
});

test("file names: no `..`, no absolute path, nothing a shell would read", () => {
  badPath(() => parseShellArgs("cat", ["../startup/client.key"]), /\.\. in path name/);
  badPath(() => parseShellArgs("cat", ["local/../../etc/passwd"]), /\.\. in path name/);
  badPath(() => parseShellArgs("ls", ["/etc"]), /absolute path/);
  badPath(() => parseShellArgs("cat", ["a.txt;id"]), /unsupported file/);
  badPath(() => parseShellArgs("cat", ["$(id).txt"]), /unsupported file/);
  badPath(() => parseShellArgs("cat", ["a b.txt"]), /unsupported file/);
  assert.equal(parseShellArgs("cat", ["local/..hidden.txt"]).file, "local/..hidden.txt", "`..` inside a name is a name");
  fc.assert(
    fc.property(fc.array(fc.string(), { maxLength: 5 }), (words) => {
      try {
        const a = parseShellArgs("cat", words);
        assert.ok(a.file !== undefined && /^[A-Za-z0-9\-._/]*$/.test(a.file) && !a.file.startsWith("/") && !a.file.split("/").includes(".."));
      } catch (e) {
        assert.ok(isCohortError(e) && (e.code === AdminErrorCode.Usage || e.code === AdminErrorCode.Path), String(e));
      }
    }),
  );
});

test("list_jobs: FLARE's -n -d -u -r -m and an id prefix; others refused", () => {
  assert.deepEqual(parseListJobsArgs(["-d", "-u", "-r", "-m", "3", "-n", "hello", "ab12"]), {
    detailed: true,
    mine: true,
    reverse: true,
    max: 3,
    namePrefix: "hello",
    idPrefix: "ab12",
  });
  refused(() => parseListJobsArgs(["-m", "0"]), /-m needs a positive number/);
  refused(() => parseListJobsArgs(["-m"]), /-m needs a positive number/);
  refused(() => parseListJobsArgs(["-x"]), /not allowed/);
  refused(() => parseListJobsArgs(["a", "b"]), /one job id prefix at most/);
});

test("validateCommand: pwd takes no extra word; show_stats takes FLARE's targets after the job", () => {
  refused(() => validateCommand("pwd", ["site-1", "x"]), /does not accept extra args/);
  validateCommand("show_stats", ["0f0e", "client", "site-1"]);
  refused(() => validateCommand("show_stats", ["0f0e", "clients", "site-1"]), /unknown target type/);
  refused(() => validateCommand("ls", ["site-1", "--exec"]), /not allowed/);
});
