// @peculiar/x509 needs a Reflect polyfill (tsyringe) and a WebCrypto provider; both are set
// here once, so every module that issues certificates imports x509 through this file.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
