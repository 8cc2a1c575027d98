/**
 * CKKS homomorphic encryption with node-seal behind a small interface (issue 10, HE core only).
 * A client context holds the secret key (it encrypts, symmetric → seeded, smaller ciphertexts, and
 * decrypts); a server context holds only the encryption parameters: it can add ciphertexts but has
 * no key to decrypt with. Weighting is done by the clients before encryption (FLARE's
 * `weigh_by_local_iter`): the server sums ciphertexts and plaintext weights; a client divides.
 */
import sealModule from "node-seal";
import type { SEALLibrary } from "node-seal/implementation/seal.js";
import { CohortError } from "../errors/index.js";
import { PrivacyErrorCode } from "./types.js";

// node-seal is a CommonJS (UMD) module: its factory is module.exports (or its `default`).
type Seal = SEALLibrary;
const sealFactory = ((sealModule as unknown as { default?: unknown }).default ?? sealModule) as () => Promise<Seal>;
let sealInstance: Promise<Seal> | undefined;
const seal = (): Promise<Seal> => (sealInstance ??= sealFactory());

/** Cohort's CKKS setup: N = 8192 (4096 slots), coefficient modulus 60-40-40-60 bits, scale 2^40, 128-bit security. */
export const CKKS_POLY_MODULUS_DEGREE = 8192;
export const CKKS_SCALE = 2 ** 40;

/** A serialized context: `{"scheme":"ckks","params":…,"secret_key"?:…}` (base64 strings). */
export interface SerializedCkksContext {
  readonly scheme: "ckks";
  readonly params: string;
  readonly secret_key?: string;
}

export class CkksContext {
  private constructor(
    private readonly s: Seal,
    private readonly ctx: ReturnType<Seal["Context"]>,
    private readonly params: string,
    private readonly secretKey: ReturnType<ReturnType<Seal["KeyGenerator"]>["secretKey"]> | undefined,
  ) {}

  /** A new key pair: the client context (with the secret key) and the server context (parameters only). */
  static async generate(): Promise<{ client: SerializedCkksContext; server: SerializedCkksContext }> {
    const s = await seal();
    const parms = s.EncryptionParameters(s.SchemeType.ckks);
    parms.setPolyModulusDegree(CKKS_POLY_MODULUS_DEGREE);
    parms.setCoeffModulus(s.CoeffModulus.Create(CKKS_POLY_MODULUS_DEGREE, Int32Array.from([60, 40, 40, 60])));
    const ctx = s.Context(parms, true, s.SecurityLevel.tc128);
    const kg = s.KeyGenerator(ctx);
    const sk = kg.secretKey();
    const params = parms.save(s.ComprModeType.zstd);
    const out = { client: { scheme: "ckks" as const, params, secret_key: sk.save(s.ComprModeType.zstd) }, server: { scheme: "ckks" as const, params } };
    sk.delete();
    kg.delete();
    ctx.delete();
    parms.delete();
    return out;
  }

  static async load(serialized: SerializedCkksContext): Promise<CkksContext> {
    const s = await seal();
    const parms = s.EncryptionParameters(s.SchemeType.ckks);
    parms.load(serialized.params);
    const ctx = s.Context(parms, true, s.SecurityLevel.tc128);
    if (!ctx.parametersSet()) throw new CohortError(PrivacyErrorCode.Policy, "CKKS context: parameters are not valid", {});
    let sk: ReturnType<ReturnType<Seal["KeyGenerator"]>["secretKey"]> | undefined;
    if (serialized.secret_key !== undefined) {
      sk = s.SecretKey();
      sk.load(ctx, serialized.secret_key);
    }
    return new CkksContext(s, ctx, serialized.params, sk);
  }

  get canDecrypt(): boolean {
    return this.secretKey !== undefined;
  }

  get slots(): number {
    return CKKS_POLY_MODULUS_DEGREE / 2;
  }

  private requireKey(what: string): NonNullable<CkksContext["secretKey"]> {
    if (!this.secretKey) throw new CohortError("ERR_PRIVACY_HE_NO_SECRET_KEY", `this CKKS context has no secret key: it cannot ${what}`, {});
    return this.secretKey;
  }

  /** Encrypts a vector (symmetric, seeded) into ciphertexts of `slots` values each. */
  encrypt(values: Float64Array): Uint8Array[] {
    const sk = this.requireKey("encrypt");
    const encoder = this.s.CKKSEncoder(this.ctx);
    // node-seal's Encryptor wants a public key; one derived from the secret key (never stored).
    const kg = this.s.KeyGenerator(this.ctx, sk);
    const pk = kg.createPublicKey();
    const encryptor = this.s.Encryptor(this.ctx, pk, sk);
    pk.delete();
    kg.delete();
    const out: Uint8Array[] = [];
    try {
      for (let i = 0; i < values.length; i += this.slots) {
        const pt = encoder.encode(values.subarray(i, i + this.slots), CKKS_SCALE) as ReturnType<typeof this.s.PlainText>;
        const ser = encryptor.encryptSymmetricSerializable(pt);
        out.push(ser.saveArray(this.s.ComprModeType.zstd));
        ser.delete();
        pt.delete();
      }
    } finally {
      encryptor.delete();
      encoder.delete();
    }
    return out;
  }

  /** Element-wise sum of encrypted vectors (no key needed). */
  add(vectors: readonly (readonly Uint8Array[])[]): Uint8Array[] {
    const first = vectors[0];
    if (!first) return [];
    if (vectors.some((v) => v.length !== first.length)) throw new CohortError(PrivacyErrorCode.Filter, "encrypted vectors differ in length", {});
    const ev = this.s.Evaluator(this.ctx);
    const out: Uint8Array[] = [];
    try {
      for (let c = 0; c < first.length; c++) {
        const acc = this.s.CipherText();
        acc.loadArray(this.ctx, first[c] as Uint8Array);
        for (const v of vectors.slice(1)) {
          const ct = this.s.CipherText();
          ct.loadArray(this.ctx, v[c] as Uint8Array);
          ev.add(acc, ct, acc);
          ct.delete();
        }
        out.push(acc.saveArray(this.s.ComprModeType.zstd));
        acc.delete();
      }
    } finally {
      ev.delete();
    }
    return out;
  }

  decrypt(cts: readonly Uint8Array[], length: number): Float64Array {
    const sk = this.requireKey("decrypt");
    const encoder = this.s.CKKSEncoder(this.ctx);
    const decryptor = this.s.Decryptor(this.ctx, sk);
    const out = new Float64Array(length);
    try {
      cts.forEach((bytes, c) => {
        const ct = this.s.CipherText();
        ct.loadArray(this.ctx, bytes);
        const pt = decryptor.decrypt(ct) as ReturnType<typeof this.s.PlainText>;
        const v = encoder.decode(pt) as Float64Array;
        out.set(v.subarray(0, Math.min(this.slots, length - c * this.slots)), c * this.slots);
        pt.delete();
        ct.delete();
      });
    } finally {
      decryptor.delete();
      encoder.delete();
    }
    return out;
  }

  /** The server's view of this context: the parameters only. */
  publicOnly(): SerializedCkksContext {
    return { scheme: "ckks", params: this.params };
  }
}

