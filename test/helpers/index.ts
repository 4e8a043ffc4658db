export * from "./services.ts";
export * from "./postgres-server.ts";
export * from "./binary.ts";
export * from "./wait-for.ts";
