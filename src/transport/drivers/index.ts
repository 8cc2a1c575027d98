/** Link drivers (tcp, grpc, http) behind the Driver contract of ../driver.ts. */
import type { Driver, Scheme } from "../driver.js";
import { grpcDriver } from "./grpc.js";
import { httpDriver } from "./http.js";
import { tcpDriver } from "./tcp.js";
import { LinkErrorCode, linkError } from "./errors.js";

export { tcpDriver } from "./tcp.js";
export { httpDriver, LINK_PATH } from "./http.js";
export { grpcDriver, GRPC_METHOD_PATH } from "./grpc.js";
export { LinkErrorCode } from "./errors.js";

const drivers: Record<Scheme, Driver> = { tcp: tcpDriver, http: httpDriver, grpc: grpcDriver };

/** The driver for a kit's `scheme`. */
export function driverFor(scheme: Scheme): Driver {
  const driver = (drivers as Partial<Record<string, Driver>>)[scheme];
  if (!driver) throw linkError(LinkErrorCode.Config, `no link driver for scheme '${String(scheme)}' (expected http, grpc or tcp)`, { scheme });
  return driver;
}
