/**
 * What the swarm server controller and the swarm client controllers say to each other through
 * tasks: only control data (round, who aggregates, who trains) and metrics. Models and updates
 * travel site to site as sealed peer messages; the server never gets one.
 */
import { z } from "zod";

const siteName = z.string().min(1).max(200);

/** The server's round task to every participating site. */
export const swarmRoundTaskSchema = z.object({
  swarm: z.literal(1),
  round: z.number().int().min(0),
  total_rounds: z.number().int().min(1),
  /** Attempt number within the round (a round is retried with another aggregator if its aggregator fails). */
  attempt: z.number().int().min(0),
  aggregator: siteName,
  trainers: z.array(siteName).min(1),
  /** Every site taking part in the job's rounds: the aggregator sends them the new model. */
  participants: z.array(siteName).min(1),
  /** Where the previous round's model comes from (absent in round 0: every site starts from its persistor's initial model). */
  previous: z.object({ aggregator: siteName, attempt: z.number().int().min(0) }).optional(),
});
export type SwarmRoundTask = z.infer<typeof swarmRoundTaskSchema>;

/**
 * The server to a round's aggregator: a trainer's round task failed (crashed, disconnected, timed
 * out), so its update will not come and the aggregator need not wait for it. Only the server can
 * know this; it could as well drop the update, so trusting it adds nothing it could not do anyway.
 */
export const swarmNoticeSchema = z.object({
  swarm: z.literal(1),
  notice: z.object({ round: z.number().int().min(0), attempt: z.number().int().min(0), site: siteName, reason: z.string().max(2000) }),
});
export type SwarmNotice = z.infer<typeof swarmNoticeSchema>;

/** A site's answer: metrics only. */
export const swarmRoundResultSchema = z.object({
  role: z.enum(["aggregator", "trainer"]),
  metrics: z.record(z.string(), z.number()),
  /** Aggregator: the sites whose updates went into the new model, and those refused with why. */
  contributors: z.array(siteName).optional(),
  rejected: z.array(z.object({ site: siteName, reason: z.string() })).optional(),
});
export type SwarmRoundResult = z.infer<typeof swarmRoundResultSchema>;

/** Peer message topics: an update for round r (attempt a) and the model that round produced. */
export const swarmUpdateTopic = (round: number, attempt: number): string => `swarm.update.${round}.${attempt}`;
export const swarmModelTopic = (round: number, attempt: number): string => `swarm.model.${round}.${attempt}`;
