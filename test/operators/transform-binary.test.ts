import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/**
 * The escape hatch from a `bun build --compile` executable: the transform module is not part
 * of the binary; it is found next to the config and loaded (and transpiled) at run time.
 */
test("a compiled executable loads transform: ./my-transform.ts at run time", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cdc-bin-transform-"));
  const src = resolve(import.meta.dir, "../../src");
  writeFileSync(join(dir, "entry.ts"), `
    import { compilePipeline } from ${JSON.stringify(join(src, "engine/operators/index.ts"))};
    import { pipelineSchema } from ${JSON.stringify(join(src, "config/pipeline-schema.ts"))};
    const p = pipelineSchema.parse({ name: "t", from: "public.x", to: "o", transform: "./my-transform.ts" });
    const c = await compilePipeline(p, { pipeline: "t", reject: () => {}, count: () => {}, maps: {}, configDir: process.argv[2] });
    const rel = { id: 1, schema: "public", name: "x", table: "public.x", replicaIdentity: "d", columns: [{ name: "id", typeOid: 20, typeMod: -1, isKey: true }] };
    c.operators[0].process({ lsn: 1n, endLsn: 2n, xid: 1, commitTime: 0n, changes: [{ op: "insert", table: "public.x", relation: rel, after: { id: 9007199254740993n } }] }, (r) => console.log(String(r.row.next) + " " + r.row.from));
  `);
  const conf = join(dir, "conf");
  Bun.spawnSync(["mkdir", "-p", conf]);
  writeFileSync(join(conf, "my-transform.ts"), `
    type Row = Record<string, unknown>;
    export function transform(row: Row): Row { return { ...row, next: (row.id as bigint) + 1n, from: "module" }; }
  `);
  const bin = join(dir, "app");
  const build = Bun.spawnSync([process.execPath, "build", "--compile", join(dir, "entry.ts"), "--outfile", bin], { cwd: resolve(import.meta.dir, "../..") });
  expect(build.exitCode).toBe(0);
  const run = Bun.spawnSync([bin, conf], { cwd: tmpdir() });
  expect(run.stderr.toString()).toBe("");
  expect(run.stdout.toString().trim()).toBe("9007199254740994 module");
}, 120_000);
