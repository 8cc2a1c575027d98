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
import { DEFAULT_CKKS_OPTIONS, type CkksOptions, type SerializedCkksContext } from "./he-context.js";
import { HeErrorCode } from "./errors.js";
import { PrivacyErrorCode } from "./errors.js";

export { DEFAULT_CKKS_OPTIONS, type CkksOptions, type SerializedCkksContext } from "./he-context.js";

// node-seal is a CommonJS (UMD) module: its factory is module.exports (or its `default`).
type Seal = SEALLibrary;
const sealFactory = ((sealModule as unknown as { default?: unknown }).default ?? sealModule) as () => Promise<Seal>;
let sealInstance: Promise<Seal> | undefined;
const seal = (): Promise<Seal> => (sealInstance ??= sealFactory());

/** N = 8192 (4096 slots per ciphertext): the only ring degree Cohort's layer framing packs. */
export const CKKS_POLY_MODULUS_DEGREE = 8192;

/** A running sum of encrypted vectors (see CkksContext.sum). */
export interface CkksSum {
  add(cts: readonly Uint8Array[]): void;
  save(): Uint8Array[];
  /** Frees the WASM memory the sum holds. */
  delete(): void;
}

export class CkksContext {
  private constructor(
    private readonly s: Seal,
    private readonly ctx: ReturnType<Seal["Context"]>,
    private readonly params: string,
    private readonly secretKey: ReturnType<ReturnType<Seal["KeyGenerator"]>["secretKey"]> | undefined,
    private readonly scale: number,
  ) {}

  /** A new key pair: the client context (with the secret key) and the server context (parameters only). */
  static async generate(options: CkksOptions = DEFAULT_CKKS_OPTIONS): Promise<{ client: SerializedCkksContext; server: SerializedCkksContext }> {
    const s = await seal();
    const parms = s.EncryptionParameters(s.SchemeType.ckks);
    parms.setPolyModulusDegree(CKKS_POLY_MODULUS_DEGREE);
    parms.setCoeffModulus(s.CoeffModulus.Create(CKKS_POLY_MODULUS_DEGREE, Int32Array.from(options.coeffModBitSizes)));
    const ctx = s.Context(parms, true, s.SecurityLevel.tc128);
    if (!ctx.parametersSet()) {
      ctx.delete();
      parms.delete();
      throw new CohortError(
        HeErrorCode.Context,
        `CKKS parameters N=${CKKS_POLY_MODULUS_DEGREE}, coeff_mod_bit_sizes=[${options.coeffModBitSizes.join(", ")}] are not valid at 128-bit security; fix: use FLARE's default [60, 40, 40]`,
        {},
      );
    }
    const kg = s.KeyGenerator(ctx);
    const sk = kg.secretKey();
    const params = parms.save(s.ComprModeType.zstd);
    const scale_bits = options.scaleBits;
    const out = {
      client: { scheme: "ckks" as const, params, scale_bits, secret_key: sk.save(s.ComprModeType.zstd) },
      server: { scheme: "ckks" as const, params, scale_bits },
    };
    sk.delete();
    kg.delete();
    ctx.delete();
    parms.delete();
    return out;
  }

  static async load(serialized: SerializedCkksContext): Promise<CkksContext> {
    const s = await seal();
    const parms = s.EncryptionParameters(s.SchemeType.ckks);
    try {
      parms.load(serialized.params);
    } catch (cause) {
      throw new CohortError(
        HeErrorCode.Context,
        "CKKS context: params: not node-seal encryption parameters; fix: re-provision with HEBuilder",
        { field: "params" },
        { cause },
      );
    }
    if (parms.scheme !== s.SchemeType.ckks || parms.polyModulusDegree !== CKKS_POLY_MODULUS_DEGREE) {
      throw new CohortError(
        HeErrorCode.Context,
        `CKKS context: params: scheme or poly_modulus_degree is not CKKS with N=${CKKS_POLY_MODULUS_DEGREE} (got N=${parms.polyModulusDegree}); fix: re-provision with HEBuilder`,
        { field: "params" },
      );
    }
    const ctx = s.Context(parms, true, s.SecurityLevel.tc128);
    if (!ctx.parametersSet())
      throw new CohortError(HeErrorCode.Context, `CKKS context: params: not valid at 128-bit security; fix: re-provision with HEBuilder`, { field: "params" });
    let sk: ReturnType<ReturnType<Seal["KeyGenerator"]>["secretKey"]> | undefined;
    if (serialized.secret_key !== undefined) {
      sk = s.SecretKey();
      sk.load(ctx, serialized.secret_key);
    }
    return new CkksContext(s, ctx, serialized.params, sk, 2 ** (serialized.scale_bits ?? DEFAULT_CKKS_OPTIONS.scaleBits));
  }

  get canDecrypt(): boolean {
    return this.secretKey !== undefined;
  }

  get slots(): number {
    return CKKS_POLY_MODULUS_DEGREE / 2;
  }

  private requireKey(what: string): NonNullable<CkksContext["secretKey"]> {
    if (!this.secretKey) throw new CohortError(HeErrorCode.NoSecretKey, `this CKKS context has no secret key: it cannot ${what}`, {});
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
        const pt = encoder.encode(values.subarray(i, i + this.slots), this.scale) as ReturnType<typeof this.s.PlainText>;
        const ser = encryptor.encryptSymmetricSerializable(pt);
        // Not compressed: zstd saves only ~12 % of a seeded ciphertext (its coefficients are
        // uniformly random below the moduli) and would double the encryption time.
        out.push(ser.saveArray(this.s.ComprModeType.none));
        ser.delete();
        pt.delete();
      }
    } finally {
      encryptor.delete();
      encoder.delete();
    }
    return out;
  }

  /**
   * A running element-wise sum kept inside node-seal: each update is loaded and added in place, and
   * the sum is serialized once (`save`), not after every update. No key needed.
   */
  sum(): CkksSum {
    const s = this.s;
    const ctx = this.ctx;
    const ev = s.Evaluator(ctx);
    let acc: ReturnType<Seal["CipherText"]>[] | undefined;
    return {
      add(cts) {
        if (acc && acc.length !== cts.length) throw new CohortError(PrivacyErrorCode.Filter, "encrypted vectors differ in length", {});
        const next = acc ?? [];
        cts.forEach((bytes, c) => {
          const ct = s.CipherText();
          ct.loadArray(ctx, bytes);
          const into = next[c];
          if (into) {
            ev.add(into, ct, into);
            ct.delete();
          } else next.push(ct);
        });
        acc = next;
      },
      save: () => (acc ?? []).map((ct) => ct.saveArray(s.ComprModeType.zstd)),
      delete() {
        for (const ct of acc ?? []) ct.delete();
        acc = undefined;
        ev.delete();
      },
    };
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
    return { scheme: "ckks", params: this.params, scale_bits: Math.log2(this.scale) };
  }
}
