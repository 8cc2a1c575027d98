/** Link drivers (tcp, grpc, http) behind the Driver contract of ../driver.ts. */
import type { Driver, Scheme } from "../driver.js";
import { httpDriver } from "./http.js";
import { tcpDriver } from "./tcp.js";

export { tcpDriver } from "./tcp.js";
export { httpDriver, LINK_PATH } from "./http.js";
export { LinkErrorCode } from "./errors.js";

const drivers: Partial<Record<Scheme, Driver>> = { tcp: tcpDriver, http: httpDriver };

/** The driver for a kit's `scheme`. */
export function driverFor(scheme: Scheme): Driver {
  const driver = drivers[scheme];
  if (!driver) throw new Error(`no link driver for scheme ${scheme}`);
  return driver;
}
