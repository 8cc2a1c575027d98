/** Stable error codes of the messaging layer (links have ERR_LINK_*, login/messages ERR_AUTH_*). */
export const TransportErrorCode = {
  BadFrame: "ERR_TRANSPORT_BAD_FRAME",
  HeaderTooLarge: "ERR_TRANSPORT_HEADER_TOO_LARGE",
  Timeout: "ERR_TRANSPORT_TIMEOUT",
  Closed: "ERR_TRANSPORT_CLOSED",
  NoHandler: "ERR_TRANSPORT_NO_HANDLER",
  HandlerFailed: "ERR_TRANSPORT_HANDLER_FAILED",
  Refused: "ERR_TRANSPORT_REFUSED",
  LoginTimeout: "ERR_TRANSPORT_LOGIN_TIMEOUT",
  TooManyLogins: "ERR_TRANSPORT_TOO_MANY_LOGINS",
  NotConnected: "ERR_TRANSPORT_NOT_CONNECTED",
  StreamFailed: "ERR_TRANSPORT_STREAM_FAILED",
  /** A login with the certificate of a site whose session is live (answered a liveness check). */
  SessionConflict: "ERR_TRANSPORT_SESSION_CONFLICT",
  /** A session silent for longer than heart_beat_timeout, removed by the server (`session.expired`). */
  HeartbeatMissed: "ERR_TRANSPORT_HEARTBEAT_MISSED",
} as const;
