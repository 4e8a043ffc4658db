// Files imported `with { type: "text" }` (Bun embeds them in the compiled binary).
declare module "*.sql" {
  const text: string;
  export default text;
}
declare module "*.csv" {
  const text: string;
  export default text;
}
