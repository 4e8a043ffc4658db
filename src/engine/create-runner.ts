import type { PipelineConfig } from "../config/pipeline-schema.ts";
import type { Config } from "../config/schema.ts";
import type { RejectedRow } from "./operators/operator.ts";
import { CdcError } from "../errors.ts";
import { isMirrorPipeline, mirrorRunner, targetsOf, type PipelineRunner } from "./pipeline-runner.ts";

/** The runner for a pipeline: mirrors map changes directly; the rest compile an operator chain. */
export async function createRunner(p: PipelineConfig, _config: Config, _ctx: { reject(r: RejectedRow): void }): Promise<PipelineRunner> {
  const targets = targetsOf(p);
  if (isMirrorPipeline(p)) return mirrorRunner(p, targets.length === 1 ? targets[0] : undefined);
  throw new CdcError("not_implemented", `pipeline '${p.name}': transforms are not available in this build yet`, { component: `pipeline:${p.name}` });
}
