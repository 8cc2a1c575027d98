/**
 * What FLARE's ccwf cross-site evaluation controllers say to each other through tasks in Cohort:
 * only control data (which model, who owns it, who evaluates it) and metrics. Models travel from
 * their owner to each evaluator as sealed peer messages; the server never gets one.
 */
import { z } from "zod";

const siteName = z.string().min(1).max(200);
const modelName = z.string().min(1).max(200);

/** FLARE's ModelType: the swarm's final model ("global") or a site's own last trained model ("local"). */
export const cseModelType = z.enum(["global", "local"]);
export type CseModelType = z.infer<typeof cseModelType>;

/** One model under evaluation, numbered in the order the server asks for them (FLARE's round). */
const modelRef = z.object({ round: z.number().int().min(0), model_type: cseModelType, model_name: modelName, model_owner: siteName });
export type CseModelRef = z.infer<typeof modelRef>;

/** The server's tasks: configure (who evaluates what), share a model, evaluate a model, stop waiting for one. */
export const cseTaskSchema = z.union([
  z.object({
    cse: z.literal(1),
    config: z.object({ evaluators: z.array(siteName), evaluatees: z.array(siteName), global_model_client: z.string().max(200) }),
  }),
  z.object({ cse: z.literal(1), share: modelRef.extend({ to: z.array(siteName).max(10_000) }) }),
  z.object({ cse: z.literal(1), evaluate: modelRef }),
  z.object({ cse: z.literal(1), cancel: modelRef.extend({ reason: z.string().max(2000) }) }),
]);
export type CseTask = z.infer<typeof cseTaskSchema>;

/** A site's answers: metrics and model names only (the site process refuses anything else). */
export const cseResultSchema = z.union([
  z.object({ cse: z.literal(1), configured: z.object({ global_names: z.array(modelName).max(100) }) }),
  z.object({ cse: z.literal(1), shared: z.object({ sent: z.array(siteName), failed: z.array(z.object({ site: siteName, reason: z.string().max(2000) })) }) }),
  z.object({ cse: z.literal(1), evaluated: z.object({ metrics: z.record(z.string(), z.number()) }) }),
  z.object({ cse: z.literal(1), cancelled: z.boolean() }),
]);
export type CseResult = z.infer<typeof cseResultSchema>;

/** The peer message topic of the model numbered `round`. */
export const cseModelTopic = (round: number): string => `cse.model.${round}`;

/** The matrix column of a model, as FLARE names it (cse_server_ctl.py: `GLOBAL_<name>` or the owner). */
export const cseModelKey = (m: Pick<CseModelRef, "model_type" | "model_name" | "model_owner">): string =>
  m.model_type === "global" ? `GLOBAL_${m.model_name}` : m.model_owner;
