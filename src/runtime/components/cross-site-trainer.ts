/**
 * The built-in Fashion-MNIST trainer, answering cross-site evaluation's `submit_model` with its
 * last locally trained model (the weights it returned for its last `train` task).
 */
import { CohortError } from "../../errors/index.js";
import { decode, encode, FLModel } from "../../wire/index.js";
import { FashionMnistTrainer } from "./trainer.js";
import type { ClientJobContext } from "./registry.js";
import { TrainerErrorCode } from "./errors.js";

export class CrossSiteFashionMnistTrainer extends FashionMnistTrainer {
  private lastLocal: FLModel | undefined;

  override async execute(taskName: string, payload: Uint8Array, ctx: ClientJobContext): Promise<Uint8Array> {
    if (taskName === "submit_model") {
      if (!this.lastLocal)
        throw new CohortError(TrainerErrorCode.NoModel, `${ctx.site} has no locally trained model to submit yet (no train task has completed in this job)`, {});
      return encode(this.lastLocal);
    }
    const out = await super.execute(taskName, payload, ctx);
    if (taskName === "train") {
      const m = decode(out);
      if (m instanceof FLModel)
        this.lastLocal = new FLModel({ params: m.params, paramsType: "FULL", meta: { model_owner: ctx.site }, currentRound: m.currentRound });
    }
    return out;
  }
}
