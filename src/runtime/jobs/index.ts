/** Job folders (definition, archive), the server's job store and the manifest nonce ledger. */
export { RuntimeErrorCode } from "./errors.js";
export { loadJobFolder, readJobMeta, jobMetaFile, type JobDefinition, type JobMeta, type LoadJobOptions } from "./definition.js";
export { parseHocon, HOCON_MAX_BYTES } from "./hocon.js";
export { JobStore, JOB_STATUSES, type StoredJobMeta, type JobStatus } from "./store.js";
export { packFolder, unpackArchive, MAX_JOB_ARCHIVE_BYTES } from "./archive.js";
