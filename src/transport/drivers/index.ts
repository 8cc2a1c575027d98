/** Link drivers (tcp, grpc, http) behind the Driver contract of ../driver.ts. */
import type { Driver, Scheme } from "../driver.js";
import { tcpDriver } from "./tcp.js";

export { tcpDriver } from "./tcp.js";
export { LinkErrorCode } from "./errors.js";

const drivers: Partial<Record<Scheme, Driver>> = { tcp: tcpDriver };

/** The driver for a kit's `scheme`. */
export function driverFor(scheme: Scheme): Driver {
  const driver = drivers[scheme];
  if (!driver) throw new Error(`no link driver for scheme ${scheme}`);
  return driver;
}
