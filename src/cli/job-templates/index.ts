/** `cohort job`: FLARE's job templates (list_templates, create, show_variables). */
export { JobTemplateErrorCode } from "./errors.js";
export { parseFlags, type FlagSpec, type ParsedFlags } from "./argv.js";
export { createJob, type CreateJobOptions, type CreatedJob } from "./create.js";
export { builtinTemplatesDir, listTemplates, resolveTemplate, type TemplateInfo } from "./templates.js";
export { readJobVariables, type JobVariables } from "./variables.js";
export { renderTemplates, renderVariables } from "./render.js";
