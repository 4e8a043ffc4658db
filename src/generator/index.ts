/** The generator's programmatic API: tests and the demo drive it in-process. */
export { runGenerator } from "./runner.ts";
export type { GeneratorOptions, GeneratorStats } from "./options.ts";
export { parseRate } from "./options.ts";
export { DATASETS } from "./datasets/index.ts";
export { readOlist, OLIST_FILES } from "./olist.ts";
