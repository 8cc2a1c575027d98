/** Link drivers (tcp, grpc, http) behind the Driver contract of ../driver.ts. */
export { driverFor } from "./select.js";
export { tcpDriver } from "./tcp.js";
export { httpDriver, LINK_PATH } from "./http.js";
export { grpcDriver, GRPC_METHOD_PATH } from "./grpc.js";
export { LinkErrorCode } from "./errors.js";
