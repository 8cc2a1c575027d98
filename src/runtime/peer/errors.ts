/** Error codes of runtime/peer/ (Sealed messages between the sites of a job); callers switch on `err.code`, never on messages. */

/** Sealed messages between the sites of a job. */
export const PeerErrorCode = {
  Topic: "ERR_PEER_TOPIC",
  NotAPeer: "ERR_PEER_NOT_IN_JOB",
  InboxFull: "ERR_PEER_INBOX_FULL",
  Timeout: "ERR_PEER_TIMEOUT",
  Unavailable: "ERR_PEER_UNAVAILABLE",
  Send: "ERR_PEER_SEND",
  Delivery: "ERR_PEER_DELIVERY",
} as const;
export type PeerErrorCode = (typeof PeerErrorCode)[keyof typeof PeerErrorCode];
