import pkg from "../package.json" with { type: "json" };

declare const CDC_GIT_COMMIT: string | undefined;

export const VERSION: string = pkg.version;
/** Injected by scripts/build.ts (--define); "dev" when run from source. */
export const GIT_COMMIT: string = typeof CDC_GIT_COMMIT === "string" ? CDC_GIT_COMMIT : "dev";
