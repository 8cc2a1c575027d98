import { basename } from "node:path";
import { z } from "zod";

/** A file or folder name inside the job's run folder (never a path: job configs are untrusted). */
export const runFolderName = z
  .string()
  .min(1)
  .max(255)
  .refine((n) => n === basename(n) && n !== "." && n !== "..", "must be a file or folder name, not a path");
