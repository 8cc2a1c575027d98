/** Public API of the transport area: link drivers, the authenticated server and client. */
export type {
  Driver,
  Connection,
  Listener,
  ListenOptions,
  DialOptions,
  ConnectionSecurity,
  Scheme,
  TlsMaterial,
  LinkLimits,
  ConnectionRefusal,
} from "./driver.js";
export { DEFAULT_LINK_LIMITS } from "./driver.js";
export { driverFor } from "./drivers/select.js";
export { TransportServer, TOPIC_HEARTBEAT, TOPIC_RENEW } from "./server.js";
export type { TransportServerConfig, ServerListenerConfig, Session } from "./server.js";
export { TransportClient } from "./client.js";
export type { TransportClientConfig, ClientState } from "./client.js";
export { SecureChannel, MAX_REFUSALS_PER_LINK } from "./channel.js";
export type { Body, MessageMeta, RequestHandler, MessageHandler, StreamHandler } from "./channel.js";
export { createMemoryDriver } from "./memory-driver.js";
export { TransportErrorCode } from "./errors.js";
export { PreLoginBudget, PRE_LOGIN_FRAME_BYTES, PRE_LOGIN_BUDGET_BYTES, GRPC_PRE_LOGIN_RESERVATION_BYTES } from "./drivers/prelogin.js";
export { decodeBody, typedMessage, typedRequest } from "./typed-body.js";
