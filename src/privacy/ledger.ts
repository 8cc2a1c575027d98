/**
 * The site's privacy-budget ledger (`<site>/workspace/privacy_budget.json`), written atomically
 * (temporary file, fsync, rename) by the site process only. Composition is basic (sequential):
 * the spends of all DP filters on a scope's data add up, ε with ε and δ with δ.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { CohortError } from "../errors/index.js";
import type { PrivacyBudget } from "./policy.js";
import type { PrivacySpend } from "./types.js";
import { PrivacyErrorCode } from "./errors.js";

const spentSchema = z.object({ epsilon: z.number().min(0), delta: z.number().min(0), charges: z.number().int().min(0) });
const ledgerSchema = z.object({
  version: z.literal(1),
  composition: z.literal("basic"),
  scopes: z.record(z.string(), z.object({ total: spentSchema, jobs: z.record(z.string(), spentSchema.extend({ last: z.string() })) })),
});
type LedgerData = z.infer<typeof ledgerSchema>;

export type ChargeOutcome =
  | { readonly allowed: true; readonly spent: { epsilon: number; delta: number } }
  | { readonly allowed: false; readonly reason: string };

const EPS = 1e-12;

export class PrivacyLedger {
  private constructor(
    readonly file: string,
    private data: LedgerData,
  ) {}

  static open(file: string): PrivacyLedger {
    if (!existsSync(file)) return new PrivacyLedger(file, { version: 1, composition: "basic", scopes: {} });
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, "utf8"));
    } catch (cause) {
      throw new CohortError(
        PrivacyErrorCode.Ledger,
        `${file}: not valid JSON; the privacy ledger is damaged (restore it from a backup; never delete it to reset budgets)`,
        { file },
        { cause },
      );
    }
    const r = ledgerSchema.safeParse(raw);
    if (!r.success) throw new CohortError(PrivacyErrorCode.Ledger, `${file}: not a privacy ledger (${r.error.issues[0]?.message ?? "invalid"})`, { file });
    return new PrivacyLedger(file, r.data);
  }

  /** Records the spend when it fits in `budget` (no budget: always recorded); else refuses. */
  charge(scope: string, jobId: string, spend: PrivacySpend, budget: PrivacyBudget | undefined): ChargeOutcome {
    const s = (this.data.scopes[scope] ??= { total: { epsilon: 0, delta: 0, charges: 0 }, jobs: {} });
    const eps = s.total.epsilon + spend.epsilon;
    const delta = s.total.delta + spend.delta;
    if (budget && (eps > budget.epsilon + EPS || delta > budget.delta + EPS)) {
      return {
        allowed: false,
        reason: `privacy budget of scope '${scope}' exhausted: ${spend.filter} needs ε=${fmt(spend.epsilon)}, δ=${fmt(spend.delta)}; spent ε=${fmt(s.total.epsilon)} of ${fmt(budget.epsilon)}, δ=${fmt(s.total.delta)} of ${fmt(budget.delta)} (basic composition)`,
      };
    }
    s.total = { epsilon: eps, delta, charges: s.total.charges + 1 };
    const j = s.jobs[jobId] ?? { epsilon: 0, delta: 0, charges: 0, last: "" };
    s.jobs[jobId] = { epsilon: j.epsilon + spend.epsilon, delta: j.delta + spend.delta, charges: j.charges + 1, last: new Date().toISOString() };
    this.save();
    return { allowed: true, spent: { epsilon: eps, delta } };
  }

  summary(): LedgerData {
    return structuredClone(this.data);
  }

  private save(): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, `${JSON.stringify(this.data, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}

function fmt(n: number): string {
  return Number(n.toPrecision(6)).toString();
}
