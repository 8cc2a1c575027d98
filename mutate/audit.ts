// Mutants of the audit chain: the writer (src/audit/audit-log.ts), checkpoints (checkpoint.ts) and
// the verifier (verify.ts). Each lets a changed, cut or forged log pass as intact.
import { mutant, type MutationArea } from "./_engine.js";

const LOG = "src/audit/audit-log.ts";
const CHECKPOINT = "src/audit/checkpoint.ts";
const VERIFY = "src/audit/verify.ts";

const area: MutationArea = {
  title: "audit chain (src/audit/: audit-log, checkpoint, verify)",
  tests: ["test/audit/audit-log.test.ts", "test/audit/checkpoint.test.ts", "test/audit/verify-witness.test.ts", "test/audit/audit-cli.test.ts"],
  mutants: [
    mutant(
      "log-prev-not-chained",
      "every line starts a new chain: lines can be removed or reordered unnoticed",
      LOG,
      "      prev: this.prev,\n",
      "      prev: GENESIS_HASH,\n",
    ),
    mutant("log-reopen-restarts-chain", "a reopened log does not continue the chain from its last line", LOG, "        log.prev = lineHash(last);\n", ""),
    mutant("log-file-world-readable", "audit.log is created readable by everyone (0644)", LOG, 'openSync(path, "a+", 0o600)', 'openSync(path, "a+", 0o644)'),
    mutant("log-reason-unbounded", "a refusal reason of any length is written (log flooding)", LOG, "event.reason.slice(0, MAX_REASON)", "event.reason"),
    mutant(
      "verify-chain-unchecked",
      "a line whose prev is not the hash of the line before passes",
      VERIFY,
      "    if (rec.prev !== prev) {\n",
      "    if (false) {\n",
    ),
    mutant(
      "verify-removed-lines-unchecked",
      "a gap in the sequence numbers (removed lines) passes",
      VERIFY,
      "if (rec.seq > expectedSeq) return done(",
      "if (false) return done(",
    ),
    mutant(
      "verify-inserted-lines-unchecked",
      "a repeated or older sequence number (inserted line) passes",
      VERIFY,
      "if (rec.seq < expectedSeq) return done(",
      "if (false) return done(",
    ),
    mutant(
      "verify-form-unchecked",
      "a line re-serialised differently (edited by hand) passes",
      VERIFY,
      "if (JSON.stringify(rec) !== line) return done(",
      "if (false) return done(",
    ),
    mutant(
      "verify-site-unchecked",
      "a line from another site's log passes",
      VERIFY,
      "else if (rec.site !== site) return done(",
      "else if (false) return done(",
    ),
    mutant(
      "verify-invalid-line-as-torn",
      "any invalid line followed by a torn-line note passes, chained or not",
      VERIFY,
      'if (nextRec?.action === "audit.torn_line" && nextRec.prev === lineHash(line)) {',
      'if (nextRec?.action === "audit.torn_line") {',
    ),
    mutant(
      "verify-witness-tail-cut-unchecked",
      "a log cut back behind a witnessed checkpoint passes",
      VERIFY,
      "    if (cp.seq > chain.lastSeq) {\n",
      "    if (false) {\n",
    ),
    mutant(
      "verify-witness-rewrite-unchecked",
      "a log rewritten up to a witnessed checkpoint passes",
      VERIFY,
      "if (head && head.hash !== cp.hash) {",
      "if (false) {",
    ),
    mutant(
      "verify-witness-signatures-skipped",
      "witnessed checkpoints' signatures are never checked, even with the root",
      VERIFY,
      "    if (options.rootPem !== undefined) {\n      const problem",
      "    if (false) {\n      const problem",
    ),
    mutant(
      "verify-witness-signer-cn-unchecked",
      "a checkpoint signed with another site's certificate passes",
      VERIFY,
      "if (cn !== site) return `the checkpoint of",
      "if (false) return `the checkpoint of",
    ),
    mutant(
      "verify-witness-signature-unchecked",
      "a forged witness record (signature not matching) passes",
      VERIFY,
      "if (!verifyBytes(cert, checkpointBytes({ site, seq: cp.seq, hash: cp.hash, time: cp.time }), cp.sig)) {",
      "if (false) {",
    ),
    mutant("verify-own-log-as-witness", "a log is accepted as its own witness", VERIFY, "} else if (witness.site === site) {", "} else if (false) {"),
    mutant(
      "checkpoint-peer-unchecked",
      "a peer may send a checkpoint of another site's log",
      CHECKPOINT,
      "if (options.peer !== undefined && cp.site !== options.peer) {",
      "if (false) {",
    ),
    mutant(
      "checkpoint-chain-unchecked",
      "a checkpoint certificate from another CA is accepted",
      CHECKPOINT,
      "    verifyCertificateChain(cp.cert, rootPem, {",
      '    void verifyCertificateChain;\n    if (rootPem === "") verifyCertificateChain(cp.cert, rootPem, {',
    ),
    mutant("checkpoint-cn-unchecked", "a checkpoint signed with another site's certificate is accepted", CHECKPOINT, "if (cn !== cp.site) {", "if (false) {"),
    mutant(
      "checkpoint-signature-unchecked",
      "a checkpoint altered after signing is accepted",
      CHECKPOINT,
      "if (!verifyBytes(cp.cert, checkpointBytes(cp), cp.sig)) {",
      "if (false) {",
    ),
    mutant(
      "checkpoint-hash-unsigned",
      "the signature does not cover the chain head's hash",
      CHECKPOINT,
      "JSON.stringify([c.site, c.seq, c.hash, c.time])",
      "JSON.stringify([c.site, c.seq, c.time])",
    ),
  ],
};

export default area;
