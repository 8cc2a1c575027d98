import type { Driver, Scheme } from "../driver.js";
import { LinkErrorCode, linkError } from "./errors.js";

// A process uses the one driver its kit's `scheme` names, so a driver's module (and its library:
// ws for http, @grpc/grpc-js for grpc) is loaded on the first listen or dial, not at import.
const loaders: Readonly<Record<Scheme, () => Promise<Driver>>> = {
  tcp: async () => (await import("./tcp.js")).tcpDriver,
  http: async () => (await import("./http.js")).httpDriver,
  grpc: async () => (await import("./grpc.js")).grpcDriver,
};

const selected = new Map<Scheme, Driver>();

/** The driver for a kit's `scheme` (one object per scheme; its module loads on first use). */
export function driverFor(scheme: Scheme): Driver {
  const known = selected.get(scheme);
  if (known) return known;
  const load = Object.hasOwn(loaders, scheme) ? loaders[scheme] : undefined;
  if (!load) throw linkError(LinkErrorCode.Config, `no link driver for scheme '${String(scheme)}' (expected http, grpc or tcp)`, { scheme });
  let real: Promise<Driver> | undefined;
  const driver = (): Promise<Driver> => (real ??= load());
  const lazy: Driver = {
    scheme,
    listen: async (options) => (await driver()).listen(options),
    dial: async (options) => (await driver()).dial(options),
  };
  selected.set(scheme, lazy);
  return lazy;
}
