import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, normalize } from "node:path";
import { create as createTar, extract as extractTar } from "tar";
import { CohortError } from "../../errors/index.js";
import { RuntimeErrorCode } from "./errors.js";

/** Largest job archive accepted (a job folder is code and configs; models travel separately). */
export const MAX_JOB_ARCHIVE_BYTES = 64 * 1024 * 1024;
/** Largest total of the files a job archive unpacks to. */
export const MAX_UNPACKED_BYTES = 512 * 1024 * 1024;
/** Most entries (files and folders) in one job archive. */
export const MAX_ARCHIVE_ENTRIES = 10_000;

export interface ArchiveLimits {
  readonly maxArchiveBytes: number;
  readonly maxUnpackedBytes: number;
  readonly maxEntries: number;
}
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxArchiveBytes: MAX_JOB_ARCHIVE_BYTES,
  maxUnpackedBytes: MAX_UNPACKED_BYTES,
  maxEntries: MAX_ARCHIVE_ENTRIES,
};

/** Packs a folder's contents (regular files and folders only) into .tar.gz bytes. */
export async function packFolder(dir: string): Promise<Uint8Array> {
  const tmp = mkdtempSync(join(tmpdir(), "cohort-pack-"));
  try {
    const file = join(tmp, "job.tgz");
    await createTar({ gzip: true, file, cwd: dir, portable: true, filter: (_p, st) => !("isSymbolicLink" in st && st.isSymbolicLink()) }, ["."]);
    const bytes = readFileSync(file);
    if (bytes.byteLength > MAX_JOB_ARCHIVE_BYTES) {
      throw new CohortError(
        RuntimeErrorCode.BadJob,
        `${dir} packs to ${bytes.byteLength} bytes, more than the ${MAX_JOB_ARCHIVE_BYTES} a job folder may hold; keep data and models out of the job folder`,
        { file: dir },
      );
    }
    return new Uint8Array(bytes);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Unpacks job-archive bytes received from a peer into `dest` (created). Refuses, before writing
 * anything outside `dest`: absolute paths, `..`, links, devices, too many entries or bytes.
 */
export async function unpackArchive(bytes: Uint8Array, dest: string, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<void> {
  if (bytes.byteLength > limits.maxArchiveBytes)
    throw new CohortError(RuntimeErrorCode.BadJob, `job archive of ${bytes.byteLength} bytes exceeds ${limits.maxArchiveBytes}`, {});
  mkdirSync(dest, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), "cohort-unpack-"));
  const file = join(tmp, "job.tgz");
  writeFileSync(file, bytes, { mode: 0o600 });
  let entries = 0;
  let total = 0;
  let refusal: CohortError | undefined;
  try {
    await extractTar({
      file,
      cwd: dest,
      strict: true,
      preservePaths: false,
      filter: (path, entry) => {
        const type = "type" in entry ? entry.type : "File";
        const size = "size" in entry && typeof entry.size === "number" ? entry.size : 0;
        const clean = normalize(path);
        const bad =
          isAbsolute(path) || clean.split(/[\\/]/).includes("..")
            ? `path ${JSON.stringify(path)} escapes the job folder`
            : type !== "File" && type !== "OldFile" && type !== "Directory"
              ? `entry ${JSON.stringify(path)} is a ${type}; only files and folders are allowed`
              : ++entries > limits.maxEntries
                ? `more than ${limits.maxEntries} entries`
                : (total += size) > limits.maxUnpackedBytes
                  ? `more than ${limits.maxUnpackedBytes} bytes unpacked`
                  : undefined;
        if (bad) refusal ??= new CohortError(RuntimeErrorCode.BadJob, `job archive refused: ${bad}`, { path });
        return !bad;
      },
    });
  } catch (cause) {
    throw new CohortError(RuntimeErrorCode.BadJob, `job archive could not be unpacked: ${(cause as Error).message}`, {}, { cause });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (refusal) {
    rmSync(dest, { recursive: true, force: true });
    throw refusal;
  }
}
