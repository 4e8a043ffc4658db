import type { BigquerySinkConfig } from "./config.ts";
import { tokenSource } from "./auth.ts";
import { BigQueryRest } from "./rest.ts";

/** `cdc-engine check`: get a token and read the dataset (or say it will be created). */
export async function checkBigquerySink(config: BigquerySinkConfig): Promise<string> {
  const tokens = tokenSource(config);
  const project = config.project ?? tokens.projectId;
  if (!project) throw new Error("no project: set project: (the key file has no project_id)");
  const rest = new BigQueryRest(config.api_endpoint, project, tokens, Math.min(config.timeout, 15_000));
  if (!config.dataset) {
    await rest.call("GET", "/datasets?maxResults=1");
    return `project ${project} at ${config.api_endpoint}`;
  }
  const ds = await rest.getDataset(config.dataset);
  return `project ${project}, dataset ${config.dataset}${ds ? "" : " (will be created)"} at ${config.api_endpoint}`;
}
