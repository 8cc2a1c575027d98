/** Stable error codes of the auth area (login, tokens, message authentication). */
export const AuthErrorCode = {
  BadServer: "ERR_AUTH_SERVER_UNTRUSTED",
  ServerIdentity: "ERR_AUTH_SERVER_IDENTITY",
  BadSignature: "ERR_AUTH_BAD_SIGNATURE",
  CertUntrusted: "ERR_AUTH_CERT_UNTRUSTED",
  CertExpired: "ERR_AUTH_CERT_EXPIRED",
  NameMismatch: "ERR_AUTH_NAME_MISMATCH",
  WrongType: "ERR_AUTH_WRONG_TYPE",
  TlsPeerMismatch: "ERR_AUTH_TLS_PEER_MISMATCH",
  ProjectMismatch: "ERR_AUTH_PROJECT_MISMATCH",
  Banned: "ERR_AUTH_BANNED",
  NoSession: "ERR_AUTH_NO_SESSION",
  TokenInvalid: "ERR_AUTH_TOKEN_INVALID",
  TokenExpired: "ERR_AUTH_TOKEN_EXPIRED",
  TokenNotYours: "ERR_AUTH_TOKEN_NOT_YOURS",
  BadMac: "ERR_AUTH_BAD_MAC",
  Replay: "ERR_AUTH_REPLAY",
  Stale: "ERR_AUTH_STALE",
  Malformed: "ERR_AUTH_MALFORMED",
  LoginRateLimited: "ERR_AUTH_RATE_LIMITED",
  TooManyClients: "ERR_AUTH_TOO_MANY_CLIENTS",
} as const;
export type AuthErrorCodeValue = (typeof AuthErrorCode)[keyof typeof AuthErrorCode];
