/**
 * A site process's privacy state: its policy (scopes) and its budget ledger. Job children ask it
 * to charge DP spends (they cannot write the site folder); refusals are audited.
 */
import type { AuditLog } from "../audit/index.js";
import { PrivacyLedger, type ChargeOutcome } from "./ledger.js";
import { resolveScope, unavailableReason, type PrivacyPolicy, type PrivacyScope } from "./policy.js";
import type { PrivacySpend } from "./types.js";
import { PrivacyErrorCode } from "./errors.js";

export interface SitePrivacyOptions {
  readonly site: string;
  readonly policy: PrivacyPolicy | undefined;
  /** `<site>/workspace/privacy_budget.json`. */
  readonly ledgerFile: string;
  readonly audit: AuditLog;
  readonly log: (line: string) => void;
}

export class SitePrivacy {
  private ledgerInstance: PrivacyLedger | undefined;

  constructor(private readonly o: SitePrivacyOptions) {}

  get policy(): PrivacyPolicy | undefined {
    return this.o.policy;
  }

  private get ledger(): PrivacyLedger {
    return (this.ledgerInstance ??= PrivacyLedger.open(this.o.ledgerFile));
  }

  /** The scope a job runs in here (throws ERR_PRIVACY_SCOPE for an unknown scope). */
  scopeForJob(requested: string | undefined): PrivacyScope | undefined {
    return resolveScope(this.o.policy, requested, this.o.site);
  }

  charge(jobId: string, scope: string | undefined, taskName: string, spend: PrivacySpend): ChargeOutcome {
    if (scope === undefined) return { allowed: true, spent: { epsilon: 0, delta: 0 } };
    const budget = this.o.policy?.scopes.get(scope)?.budget;
    const r = this.ledger.charge(scope, jobId, spend, budget);
    if (r.allowed)
      this.o.audit.append({
        action: "privacy.charged",
        outcome: "ok",
        job: jobId,
        reason: `${taskName}: ${spend.filter} ε=${spend.epsilon} δ=${spend.delta}; scope '${scope}' total ε=${r.spent.epsilon} δ=${r.spent.delta}`,
      });
    else {
      this.o.audit.append({ action: "privacy.budget", outcome: "denied", job: jobId, code: PrivacyErrorCode.Budget, reason: `${taskName}: ${r.reason}` });
      this.o.log(`job ${jobId}: task ${taskName} refused: ${r.reason}`);
    }
    return r;
  }

  /**
   * Said once when the site starts: each scope that names a filter Cohort lacks (log line and
   * audit line); jobs of those scopes are refused at deploy with the same reason.
   */
  reportUnavailableScopes(): void {
    const p = this.o.policy;
    if (!p) return;
    for (const scope of p.unavailable.keys()) {
      const reason = `privacy scope '${scope}' refuses jobs: ${unavailableReason(p, scope)}`;
      this.o.log(`WARNING: ${reason}`);
      this.o.audit.append({ action: "privacy.scope", outcome: "denied", code: PrivacyErrorCode.ScopeUnavailable, reason });
    }
  }

  /** `show_scopes`: the scope names, default, filters and budgets. */
  showScopes(): Record<string, unknown> {
    const p = this.o.policy;
    if (!p) return { site: this.o.site, policy: null, scopes: [], note: "no local/privacy.json: any scope is allowed, no site filters" };
    return {
      site: this.o.site,
      policy: p.file,
      default_scope: p.defaultScope ?? null,
      scopes: [...p.scopes.values()].map((s) => ({
        name: s.name,
        properties: s.properties,
        task_data_filters: s.task_data_filters.map((f) => f.name ?? f.path),
        task_result_filters: s.task_result_filters.map((f) => f.name ?? f.path),
        budget: s.budget ?? null,
        ...(p.unavailable.has(s.name) ? { usable: false, problems: p.unavailable.get(s.name) } : { usable: true }),
      })),
    };
  }

  /** `show_privacy_budget`: per scope, the budget, the total spent and the spend per job. */
  showBudget(): Record<string, unknown> {
    const data = this.ledger.summary();
    const names = new Set([...(this.o.policy?.scopes.keys() ?? []), ...Object.keys(data.scopes)]);
    return {
      site: this.o.site,
      composition: "basic (ε and δ of all charges add up)",
      ledger: this.o.ledgerFile,
      scopes: [...names].sort().map((n) => ({
        scope: n,
        budget: this.o.policy?.scopes.get(n)?.budget ?? null,
        spent: data.scopes[n]?.total ?? { epsilon: 0, delta: 0, charges: 0 },
        jobs: data.scopes[n]?.jobs ?? {},
      })),
    };
  }
}
