/**
 * Cohort's built-in components, registered under Cohort's names and FLARE's class paths where the
 * behaviour is equivalent, so FLARE job configs that use only standard components run unchanged.
 */
import { registerComponent } from "./registry.js";
import { swarmRoundResultSchema } from "./swarm-protocol.js";
import { ScatterAndGather, scatterAndGatherArgs } from "./scatter-and-gather.js";
import { ModelPersistor, persistorArgs } from "./persistor.js";
import { FedAvg, fedAvgArgs } from "./fedavg.js";
import { NPModelPersistor, npPersistorArgs } from "./np-persistor.js";
import { PT_FILE_MODEL_PERSISTOR, PTFileModelPersistor, ptPersistorArgs } from "./pt-persistor.js";
import { PT_FILE_MODEL_LOCATOR, PTFileModelLocator, ptLocatorArgs } from "./pt-locator.js";
import { ModelAggregator, aggregatorArgs } from "./aggregator.js";
import { FashionMnistTrainer, NoOpTrainer, trainerArgs } from "./trainer.js";

registerComponent({
  paths: ["cohort.ScatterAndGather"],
  kind: "workflow",
  create: (args) => new ScatterAndGather(scatterAndGatherArgs.parse(args), { finalValidation: true }),
});
registerComponent({
  // FLARE's ScatterAndGather sends no task after the last round (its final model is evaluated by a
  // cross-site evaluation workflow, if the job has one).
  paths: ["nvflare.app_common.workflows.scatter_and_gather.ScatterAndGather"],
  kind: "workflow",
  create: (args) => new ScatterAndGather(scatterAndGatherArgs.parse(args), { finalValidation: false }),
});
// FLARE's modern FedAvg (ModelController) and its numpy persistor (issue 18).
registerComponent({
  paths: ["cohort.FedAvg", "nvflare.app_common.workflows.fedavg.FedAvg"],
  kind: "workflow",
  create: (args) => new FedAvg(fedAvgArgs.parse(args)),
});
registerComponent({
  paths: ["nvflare.app_common.np.np_model_persistor.NPModelPersistor"],
  kind: "persistor",
  create: (args, ctx) => new NPModelPersistor(npPersistorArgs.parse(args), ctx.runDir),
});
registerComponent({
  paths: [PT_FILE_MODEL_PERSISTOR],
  kind: "persistor",
  create: (args, ctx) => new PTFileModelPersistor(ptPersistorArgs.parse(args), ctx.runDir, ctx.appDir),
});
registerComponent({
  paths: [PT_FILE_MODEL_LOCATOR],
  kind: "component",
  create: (args, ctx) => new PTFileModelLocator(ptLocatorArgs.parse(args), ctx),
});
registerComponent({
  paths: ["cohort.ModelPersistor"],
  kind: "persistor",
  create: (args, ctx) => new ModelPersistor(persistorArgs.parse(args), ctx.runDir),
});
registerComponent({
  paths: ["cohort.WeightedAggregator"],
  kind: "aggregator",
  create: (args) => new ModelAggregator(aggregatorArgs.parse(args)),
});
registerComponent({
  // FLARE's default expected_data_kind is WEIGHT_DIFF: a job that sends FULL models says WEIGHTS.
  paths: ["nvflare.app_common.aggregators.intime_accumulate_model_aggregator.InTimeAccumulateWeightedAggregator"],
  kind: "aggregator",
  create: (args) => new ModelAggregator(aggregatorArgs.parse({ expected_data_kind: "WEIGHT_DIFF", ...args })),
});
registerComponent({
  // FLARE's shareable generator converts models to task data; Cohort's tasks carry FLModels directly.
  paths: ["cohort.FullModelShareableGenerator", "nvflare.app_common.shareablegenerators.full_model_shareable_generator.FullModelShareableGenerator"],
  kind: "component",
  create: () => ({}),
});
registerComponent({
  paths: ["cohort.FashionMnistTrainer"],
  kind: "executor",
  create: (args) => new FashionMnistTrainer(trainerArgs.parse(args)),
});
registerComponent({
  paths: ["cohort.NoOpTrainer"],
  kind: "executor",
  create: () => new NoOpTrainer(),
});
// Client API (issue 7): external training processes (any language; Python via python/cohort_flare).
import { ExternalProcessExecutor, externalProcessArgs } from "./external-process-executor.js";
registerComponent({
  paths: ["cohort.ExternalProcessExecutor"],
  kind: "executor",
  startsProcesses: true,
  create: (args, ctx) => new ExternalProcessExecutor(externalProcessArgs.parse(args), ctx),
});
// Client API (issue 7): in-process TypeScript/JavaScript training code from the job's custom/ folder.
import { ClientApiExecutor, clientApiExecutorArgs } from "./client-api-executor.js";
registerComponent({
  paths: ["cohort.ClientApiExecutor"],
  kind: "executor",
  create: (args, ctx) => new ClientApiExecutor(clientApiExecutorArgs.parse(args), ctx),
});
// Cyclic weight transfer and cross-site evaluation (issue 7).
import { CyclicController, cyclicArgs } from "./cyclic-controller.js";
import { CrossSiteModelEval, crossSiteArgs } from "./cross-site-eval.js";
import { CrossSiteFashionMnistTrainer } from "./cross-site-trainer.js";
registerComponent({
  paths: ["cohort.CyclicController", "nvflare.app_common.workflows.cyclic_ctl.CyclicController"],
  kind: "workflow",
  create: (args) => new CyclicController(cyclicArgs.parse(args)),
});
registerComponent({
  paths: ["cohort.CrossSiteModelEval", "nvflare.app_common.workflows.cross_site_model_eval.CrossSiteModelEval"],
  kind: "workflow",
  create: (args) => new CrossSiteModelEval(crossSiteArgs.parse(args)),
});
// Swarm learning (issue 7): the server drives, a random site aggregates each round, models go site to site sealed.
import { SwarmServerController, swarmServerArgs } from "./swarm-server.js";
import { SwarmClientController, swarmClientArgs } from "./swarm-client.js";
registerComponent({
  paths: ["cohort.SwarmServerController", "nvflare.app_common.ccwf.SwarmServerController", "nvflare.app_common.ccwf.swarm_server_ctl.SwarmServerController"],
  kind: "workflow",
  create: (args) => new SwarmServerController(swarmServerArgs.parse(args)),
});
registerComponent({
  paths: ["cohort.SwarmClientController", "nvflare.app_common.ccwf.SwarmClientController", "nvflare.app_common.ccwf.swarm_client_ctl.SwarmClientController"],
  kind: "executor",
  // Its task carries roles and metrics; updates leave as peer messages, which the site process filters.
  controlTasksOnly: true,
  controlResultSchema: swarmRoundResultSchema,
  create: (args) => new SwarmClientController(swarmClientArgs.parse(args)),
});
// ccwf cross-site evaluation: models go from their owner to each evaluator sealed; the server gets metrics.
import { CrossSiteEvalServerController, cseServerArgs } from "./cse-server.js";
import { CrossSiteEvalClientController, cseClientArgs } from "./cse-client.js";
import { cseResultSchema } from "./cse-protocol.js";
registerComponent({
  paths: [
    "cohort.CrossSiteEvalServerController",
    "nvflare.app_common.ccwf.CrossSiteEvalServerController",
    "nvflare.app_common.ccwf.cse_server_ctl.CrossSiteEvalServerController",
  ],
  kind: "workflow",
  create: (args) => new CrossSiteEvalServerController(cseServerArgs.parse(args)),
});
registerComponent({
  paths: [
    "cohort.CrossSiteEvalClientController",
    "nvflare.app_common.ccwf.CrossSiteEvalClientController",
    "nvflare.app_common.ccwf.cse_client_ctl.CrossSiteEvalClientController",
  ],
  kind: "executor",
  // Its tasks carry model names and metrics; models leave as peer messages, which the site process filters.
  controlTasksOnly: true,
  controlResultSchema: cseResultSchema,
  create: (args) => new CrossSiteEvalClientController(cseClientArgs.parse(args)),
});
registerComponent({
  paths: ["cohort.CrossSiteFashionMnistTrainer"],
  kind: "executor",
  create: (args) => new CrossSiteFashionMnistTrainer(trainerArgs.parse(args)),
});
// Privacy filters (issue 10): Cohort names, FLARE's class paths and short names (privacy.json `name`).
import { BUILTIN_FILTERS } from "../../privacy/index.js";
for (const f of BUILTIN_FILTERS) registerComponent({ paths: [...f.paths, f.name], kind: "filter", create: (args) => f.create(args) });
// Homomorphic encryption (issue 10): node-seal loads on first use only.
import { HE_COMPONENTS, HEAggregator, heAggregatorArgs, HEModelDecryptor, HEModelEncryptor, heEncryptorArgs } from "../../privacy/index.js";
import { parseFilterArgs } from "../../privacy/index.js";
registerComponent({
  paths: HE_COMPONENTS.encryptor.paths,
  kind: "filter",
  create: (args) => new HEModelEncryptor(parseFilterArgs("HEModelEncryptor", heEncryptorArgs, args)),
});
registerComponent({ paths: HE_COMPONENTS.decryptor.paths, kind: "filter", create: () => new HEModelDecryptor() });
registerComponent({
  paths: HE_COMPONENTS.aggregator.paths,
  kind: "aggregator",
  create: (args) => {
    heAggregatorArgs.parse(args);
    return new HEAggregator();
  },
});
// FLARE's widgets (issue 18): model selection, TensorBoard analytics, event conversion, cross-site JSON.
import {
  convertToFedEventArgs,
  IntimeModelSelector,
  modelSelectorArgs,
  TBAnalyticsReceiver,
  tbReceiverArgs,
  validationJsonArgs,
  widgetArgs,
  noArgs,
} from "./flare-widgets.js";
registerComponent({
  paths: ["nvflare.app_common.widgets.intime_model_selector.IntimeModelSelector", "IntimeModelSelector"],
  kind: "component",
  create: (args, ctx) => new IntimeModelSelector(widgetArgs(modelSelectorArgs, "IntimeModelSelector", args), ctx),
});
registerComponent({
  paths: ["nvflare.app_opt.tracking.tb.tb_receiver.TBAnalyticsReceiver", "TBAnalyticsReceiver"],
  kind: "component",
  create: (args, ctx) => new TBAnalyticsReceiver(widgetArgs(tbReceiverArgs, "TBAnalyticsReceiver", args), ctx),
});
registerComponent({
  paths: ["nvflare.app_common.widgets.convert_to_fed_event.ConvertToFedEvent", "ConvertToFedEvent"],
  kind: "component",
  create: (args) => ({ convertToFedEvent: widgetArgs(convertToFedEventArgs, "ConvertToFedEvent", args) }),
});
registerComponent({
  paths: ["nvflare.app_common.widgets.validation_json_generator.ValidationJsonGenerator", "ValidationJsonGenerator"],
  kind: "component",
  create: (args) => ({ validationJson: widgetArgs(validationJsonArgs, "ValidationJsonGenerator", args) }),
});
// ccwf helpers FLARE's swarm_cse templates name: Cohort's controllers already do their work (below), so they only take no arguments.
registerComponent({
  paths: ["nvflare.app_common.ccwf.comps.simple_model_shareable_generator.SimpleModelShareableGenerator"],
  kind: "component",
  // FLARE converts between its Shareable and model objects; Cohort's swarm client works on FLModels directly.
  create: (args) => ({ shareableGenerator: widgetArgs(noArgs, "SimpleModelShareableGenerator", args) }),
});
registerComponent({
  paths: ["nvflare.app_common.ccwf.comps.cwe_result_printer.CWEResultPrinter"],
  kind: "component",
  // FLARE prints the cross-site results at the site; Cohort's controller logs each evaluation there and the matrix at the server.
  create: (args) => ({ resultPrinter: widgetArgs(noArgs, "CWEResultPrinter", args) }),
});
import "./flare-client-executors.js";
import "./np-components.js";
