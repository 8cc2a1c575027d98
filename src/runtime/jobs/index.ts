/** Job folders (definition, archive), the server's job store and the manifest nonce ledger. */
export { RuntimeErrorCode } from "./errors.js";
export { loadJobFolder, type JobDefinition, type JobMeta } from "./definition.js";
export { JobStore, JOB_STATUSES, type StoredJobMeta, type JobStatus } from "./store.js";
export { packFolder, unpackArchive, MAX_JOB_ARCHIVE_BYTES } from "./archive.js";
