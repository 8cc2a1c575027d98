/**
 * FLARE's PTFileModelLocator: the server's PyTorch models for CrossSiteModelEval, from the
 * PTFileModelPersistor named by `pt_persistor_id` (its saved global and best models, named by
 * FLARE's file names and evaluated as `SRV_FL_global_model.pt`, `SRV_best_FL_global_model.pt`).
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import type { WireRecord } from "../../wire/index.js";
import type { ServerModelLocator } from "./cross-site-eval.js";
import { WorkflowErrorCode } from "./errors.js";
import { PTFileModelPersistor } from "./pt-persistor.js";
import type { JobContextBase } from "./registry.js";
import { parseSafetensors } from "./safetensors.js";

export const PT_FILE_MODEL_LOCATOR = "nvflare.app_opt.pt.file_model_locator.PTFileModelLocator";

export const ptLocatorArgs = z.object({ pt_persistor_id: z.string().min(1) }).strict();

export class PTFileModelLocator implements ServerModelLocator {
  constructor(
    private readonly a: z.infer<typeof ptLocatorArgs>,
    private readonly ctx: Pick<JobContextBase, "component">,
  ) {}

  /** Resolved on use: the persistor may be built after the locator. */
  private persistor(): PTFileModelPersistor {
    let p: unknown;
    try {
      p = this.ctx.component(this.a.pt_persistor_id);
    } catch {
      p = undefined;
    }
    if (!(p instanceof PTFileModelPersistor))
      throw new CohortError(
        WorkflowErrorCode.Config,
        `FLARE's PTFileModelLocator: pt_persistor_id ${JSON.stringify(this.a.pt_persistor_id)} must name a PTFileModelPersistor component of the server app`,
        { pt_persistor_id: this.a.pt_persistor_id },
      );
    return p;
  }

  getModelNames(): string[] {
    return [...this.persistor().savedModels().keys()];
  }

  locateModel(name: string): WireRecord {
    const file = this.persistor().savedModels().get(name);
    if (file === undefined)
      throw new CohortError(WorkflowErrorCode.BadModel, `FLARE's PTFileModelLocator: the persistor saved no model ${JSON.stringify(name.slice(0, 200))}`, {
        model: name.slice(0, 200),
      });
    return parseSafetensors(readFileSync(file), file).params;
  }
}
