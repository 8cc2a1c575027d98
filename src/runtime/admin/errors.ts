/** Error codes of runtime/admin/ (Admin commands); callers switch on `err.code`, never on messages. */

/** Admin commands (console, server and site sides). */
export const AdminErrorCode = {
  Usage: "ERR_ADMIN_USAGE",
  UnknownCommand: "ERR_ADMIN_UNKNOWN_COMMAND",
  /** A command the server or a site could not carry out. */
  Failed: "ERR_ADMIN_FAILED",
  /** A command signed by, or sent on a session of, someone who is not an admin. */
  NotAdmin: "ERR_ADMIN_NOT_ADMIN",
  NoSites: "ERR_ADMIN_NO_SITES",
  /** A file command's path outside the site folder, a link, or a startup/ file. */
  Path: "ERR_ADMIN_PATH",
  Download: "ERR_ADMIN_DOWNLOAD",
  /** A command that asks for confirmation, run without a terminal and without --yes. */
  Unconfirmed: "ERR_ADMIN_UNCONFIRMED",
} as const;
export type AdminErrorCode = (typeof AdminErrorCode)[keyof typeof AdminErrorCode];
