/**
 * Every topic the runtime sends on a participant's link, in one table (the transport's own,
 * `__heartbeat` and `__renew`, are in transport/server.ts). A handler for each is registered in
 * participant/start.ts or by the manager that owns it.
 */

/** Console → server: a signed admin command (runtime/admin, server/admin.ts). */
export const TOPIC_ADMIN = "admin.command";
/** Server → site: an admin's signed command for that site, forwarded (site/admin.ts). */
export const TOPIC_SITE_COMMAND = "admin.site_command";
/** Site ↔ server: a signed checkpoint of the sender's audit chain (participant/audit-witness.ts). */
export const TOPIC_CHECKPOINT = "audit.checkpoint";
/** Server → site: deploy a job (the signed archive and its meta). */
export const TOPIC_JOB_DEPLOY = "job.deploy";
/** Server ↔ site: a task for a site's job and its result. */
export const TOPIC_JOB_TASK = "job.task";
/** Server → site: the job ended (or was aborted). */
export const TOPIC_JOB_END = "job.end";
/** Server → site: can the site take this job now (resources)? */
export const TOPIC_JOB_RESOURCES = "job.check_resources";
/** Site → server: relay a sealed message to another site of the job. */
export const TOPIC_JOB_PEER = "job.peer";
/** Server → site: a relayed sealed message from another site of the job. */
export const TOPIC_JOB_PEER_DELIVER = "job.peer.deliver";
