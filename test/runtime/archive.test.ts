/**
 * Job-archive limits (docs/runtime.md "Jobs", src/runtime/jobs/archive.ts), each at the limit and one
 * past it: packed size, entries, unpacked bytes; links, devices, absolute paths and `..` refused;
 * a refused archive leaves nothing behind. The numbers are read from the docs and compared with
 * the exported constants the code uses.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { create as createTar } from "tar";
import { DEFAULT_ARCHIVE_LIMITS, MAX_ARCHIVE_ENTRIES, MAX_JOB_ARCHIVE_BYTES, MAX_UNPACKED_BYTES, unpackArchive } from "../../src/runtime/jobs/archive.js";
import { tempDir } from "../helpers/index.js";
import { documentedNumber } from "../helpers/doc-limits.js";

/** A tar.gz of `names` (relative to `cwd`, as given: no normalisation). */
async function tarOf(cwd: string, names: string[], options: { preservePaths?: boolean } = {}): Promise<Uint8Array> {
  const file = join(tempDir("cohort-archive-"), "a.tgz");
  await createTar({ gzip: { level: 1 }, file, cwd, portable: true, ...options }, names);
  return new Uint8Array(readFileSync(file));
}

const refused = (re: RegExp) => (e: Error) => re.test(e.message);

describe("job archive limits", () => {
  test("the documented limits are the code's", () => {
    assert.equal(MAX_JOB_ARCHIVE_BYTES, documentedNumber("docs/runtime.md", /larger than (\d+) (MiB) \(`MAX_JOB_ARCHIVE_BYTES`\)/));
    assert.equal(MAX_UNPACKED_BYTES, documentedNumber("docs/runtime.md", /more than (\d+) (MiB) \(`MAX_UNPACKED_BYTES`\)/));
    assert.equal(MAX_ARCHIVE_ENTRIES, documentedNumber("docs/runtime.md", /more than (\d+) entries \(`MAX_ARCHIVE_ENTRIES`\)/));
    assert.deepEqual(DEFAULT_ARCHIVE_LIMITS, { maxArchiveBytes: MAX_JOB_ARCHIVE_BYTES, maxUnpackedBytes: MAX_UNPACKED_BYTES, maxEntries: MAX_ARCHIVE_ENTRIES });
  });

  test("packed size: at the limit the bytes are read as an archive; one byte more is refused unread", async () => {
    const at = new Uint8Array(MAX_JOB_ARCHIVE_BYTES); // not a tar.gz: it gets past the size check and fails as an archive
    await assert.rejects(unpackArchive(at, join(tempDir(), "out")), (e: Error) => /could not be unpacked/.test(e.message) && !/exceeds/.test(e.message));
    await assert.rejects(unpackArchive(new Uint8Array(MAX_JOB_ARCHIVE_BYTES + 1), join(tempDir(), "out")), (e: Error) =>
      new RegExp(`${MAX_JOB_ARCHIVE_BYTES + 1} bytes exceeds ${MAX_JOB_ARCHIVE_BYTES}`).test(e.message),
    );
  });

  test("entries: exactly the limit unpacks; one more is refused and leaves nothing", { timeout: 120_000 }, async () => {
    const src = tempDir("cohort-entries-");
    const names = Array.from({ length: MAX_ARCHIVE_ENTRIES + 1 }, (_, i) => `f${i}`);
    for (const n of names) writeFileSync(join(src, n), "");
    const ok = join(tempDir(), "ok");
    await unpackArchive(await tarOf(src, names.slice(0, MAX_ARCHIVE_ENTRIES)), ok);
    assert.equal(readdirSync(ok).length, MAX_ARCHIVE_ENTRIES);
    const over = join(tempDir(), "over");
    await assert.rejects(unpackArchive(await tarOf(src, names), over), refused(new RegExp(`more than ${MAX_ARCHIVE_ENTRIES} entries`)));
    assert.equal(existsSync(over), false, "a refused archive leaves nothing");
  });

  test("unpacked bytes: past the default limit refused from the header; at and past a given limit", { timeout: 120_000 }, async () => {
    const src = tempDir("cohort-bytes-");
    // Sparse: the file reads as MAX_UNPACKED_BYTES + 1 zero bytes without taking disk space.
    writeFileSync(join(src, "big"), "");
    truncateSync(join(src, "big"), MAX_UNPACKED_BYTES + 1);
    const big = await tarOf(src, ["big"]);
    assert.ok(big.byteLength <= MAX_JOB_ARCHIVE_BYTES, "compresses below the packed limit");
    const over = join(tempDir(), "over");
    await assert.rejects(unpackArchive(big, over), refused(new RegExp(`more than ${MAX_UNPACKED_BYTES} bytes unpacked`)));
    assert.equal(existsSync(over), false);
    // The same check at a small limit, where writing the files at the limit is cheap.
    const small = tempDir("cohort-bytes-small-");
    writeFileSync(join(small, "a"), Buffer.alloc(600));
    writeFileSync(join(small, "b"), Buffer.alloc(400));
    const limits = { ...DEFAULT_ARCHIVE_LIMITS, maxUnpackedBytes: 1000 };
    const ok = join(tempDir(), "ok");
    await unpackArchive(await tarOf(small, ["a", "b"]), ok, limits);
    assert.equal(readFileSync(join(ok, "a")).byteLength + readFileSync(join(ok, "b")).byteLength, 1000);
    writeFileSync(join(small, "b"), Buffer.alloc(401));
    await assert.rejects(unpackArchive(await tarOf(small, ["a", "b"]), join(tempDir(), "x"), limits), refused(/more than 1000 bytes unpacked/));
  });

  test("links, absolute paths and `..` are refused; nothing is written outside the destination", async () => {
    const root = tempDir("cohort-escape-");
    const src = join(root, "job");
    mkdirSync(src);
    writeFileSync(join(src, "ok.txt"), "ok");
    symlinkSync("/etc/passwd", join(src, "link"));
    writeFileSync(join(root, "outside.txt"), "x");
    await assert.rejects(unpackArchive(await tarOf(src, ["ok.txt", "link"]), join(tempDir(), "l")), refused(/"link" is a SymbolicLink/));
    const dest = join(tempDir(), "d", "dest");
    await assert.rejects(unpackArchive(await tarOf(src, ["ok.txt", "../outside.txt"], { preservePaths: true }), dest), refused(/escapes the job folder/));
    assert.equal(existsSync(join(dest, "..", "outside.txt")), false, "nothing written beside the destination");
    await assert.rejects(
      unpackArchive(await tarOf(src, [join(root, "outside.txt")], { preservePaths: true }), join(tempDir(), "abs")),
      refused(/escapes the job folder/),
    );
  });
});
