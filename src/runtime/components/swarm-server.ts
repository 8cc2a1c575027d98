/**
 * FLARE's SwarmServerController (flare-digest §11.5): the server only drives and tracks the swarm.
 * Each round it picks an aggregator at random among the candidates and tells every participating
 * site the round's roles; the sites train, send their updates to the aggregator and get the new
 * model from it as sealed peer messages the server relays but cannot read. Results reaching the
 * server are metrics. If a round's aggregator fails, the round is retried with another one (every
 * site still holds the previous model).
 */
import { randomInt } from "node:crypto";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { decode, encode } from "../../wire/index.js";
import type { ServerJobContext, Workflow } from "./registry.js";
import { swarmRoundResultSchema, type SwarmNotice, type SwarmRoundTask } from "./swarm-protocol.js";
import { WorkflowErrorCode } from "./errors.js";

export const swarmServerArgs = z.object({
  num_rounds: z.number().int().min(1).default(5),
  /** Sites that may aggregate (default: every site of the job). */
  aggr_clients: z.array(z.string()).default([]),
  /** Sites that train (default: every site of the job). */
  train_clients: z.array(z.string()).default([]),
  /** The client task that runs one swarm round. */
  task_name: z.string().default("swarm_learn"),
  /** Seconds a round may take at a site (training, peer messages, aggregation). */
  round_timeout: z.number().positive().default(600),
  /** Aggregators tried per round before the job fails. */
  max_aggregator_attempts: z.number().int().min(1).default(2),
  // FLARE's arguments accepted for compatibility (Cohort pushes tasks; round_timeout bounds a round).
  start_task_timeout: z.number().optional(),
  progress_timeout: z.number().optional(),
  configure_task_timeout: z.number().optional(),
  starting_client: z.string().optional(),
});
export type SwarmServerArgs = z.infer<typeof swarmServerArgs>;

export class SwarmServerController implements Workflow {
  constructor(private readonly a: SwarmServerArgs) {}

  private pick(list: readonly string[], what: string, ctx: ServerJobContext): string[] {
    if (list.length === 0) return [...ctx.sites].sort();
    const unknown = list.filter((s) => !ctx.sites.includes(s));
    if (unknown.length > 0) ctx.warn(`swarm: ${what} ${unknown.join(", ")} not in the job (sites ${ctx.sites.join(", ")}); left out`);
    return list.filter((s) => ctx.sites.includes(s)).sort();
  }

  private notify(ctx: ServerJobContext, aggregator: string, notice: SwarmNotice["notice"]): void {
    const body: SwarmNotice = { swarm: 1, notice };
    ctx
      .sendTask(aggregator, this.a.task_name, encode(body), 30_000)
      .catch((err: Error) => ctx.warn(`swarm: could not tell ${aggregator} that ${notice.site} failed: ${err.message}`));
  }

  async run(ctx: ServerJobContext): Promise<void> {
    const trainers = this.pick(this.a.train_clients, "train_clients", ctx);
    const candidates = this.pick(this.a.aggr_clients, "aggr_clients", ctx);
    if (trainers.length === 0 || candidates.length === 0)
      throw new CohortError(
        WorkflowErrorCode.Config,
        `swarm: no ${trainers.length === 0 ? "trainers" : "aggregator candidates"} among the job's sites (${ctx.sites.join(", ")})`,
        {},
      );
    const participants = [...new Set([...trainers, ...candidates])].sort();
    let previous: SwarmRoundTask["previous"];
    for (let round = 0; round < this.a.num_rounds; round++) {
      const tried: string[] = [];
      let done = false;
      for (let attempt = 0; attempt < this.a.max_aggregator_attempts && !done; attempt++) {
        if (ctx.signal.aborted) return;
        const left = candidates.filter((c) => !tried.includes(c));
        if (left.length === 0) break;
        const aggregator = left[randomInt(left.length)] as string;
        tried.push(aggregator);
        const task: SwarmRoundTask = {
          swarm: 1,
          round,
          total_rounds: this.a.num_rounds,
          attempt,
          aggregator,
          trainers,
          participants,
          ...(previous ? { previous } : {}),
        };
        ctx.log(`swarm round ${round + 1}/${this.a.num_rounds}: ${aggregator} aggregates${attempt > 0 ? ` (attempt ${attempt + 1})` : ""}`);
        const payload = encode(task);
        const sent = [...new Set([...trainers, aggregator])];
        const results = await Promise.allSettled(
          sent.map(async (site) => {
            try {
              return swarmRoundResultSchema.parse(decode(await ctx.sendTask(site, this.a.task_name, payload, this.a.round_timeout * 1000)));
            } catch (err) {
              // The aggregator need not wait out peer_timeout for an update that will not come.
              if (site !== aggregator) this.notify(ctx, aggregator, { round, attempt, site, reason: (err as Error).message.slice(0, 2000) });
              throw err;
            }
          }),
        );
        if (ctx.signal.aborted) return;
        results.forEach((r, i) => {
          if (r.status === "rejected") ctx.warn(`swarm round ${round + 1}: ${sent[i]} failed: ${(r.reason as Error).message}`);
        });
        const agg = results[sent.indexOf(aggregator)];
        if (agg?.status !== "fulfilled" || agg.value.role !== "aggregator") continue;
        for (const rej of agg.value.rejected ?? []) ctx.warn(`swarm round ${round + 1}: ${aggregator} left out ${rej.site}'s update: ${rej.reason}`);
        ctx.progress(round + 1, this.a.num_rounds, agg.value.metrics, agg.value.contributors ?? []);
        previous = { aggregator, attempt };
        done = true;
      }
      if (!done)
        throw new CohortError(
          WorkflowErrorCode.TooFewResults,
          `swarm round ${round + 1}: no aggregator completed it (tried ${tried.join(", ")}); see the warnings above`,
          { round },
        );
    }
    if (previous) ctx.log(`swarm: the final model is at ${previous.aggregator} (its job workspace, models/global_model.cohort); the server holds no model`);
  }
}
