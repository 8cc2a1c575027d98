import { z } from "zod";

/** The built-in model family and data shape, as job configs give them. */
export const modelArgs = z.object({
  model: z
    .discriminatedUnion("kind", [
      z.object({ kind: z.literal("softmax") }),
      z.object({ kind: z.literal("mlp"), hidden: z.number().int().min(1).max(4096).default(64) }),
    ])
    .default({ kind: "softmax" }),
  features: z.number().int().min(1).default(784),
  classes: z.number().int().min(2).default(10),
  seed: z.number().int().default(1),
});
export type ModelArgs = z.infer<typeof modelArgs>;
