import { readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { usageError } from "../errors.ts";
import { sinkFactory, sinkRegistry } from "../sinks/index.ts";
import { interpolate } from "./interpolate.ts";
import { formatIssue } from "./format-issue.ts";
import { parseWithLiterals } from "./literals.ts";
import { configSchema, type Config, type SinkConfig } from "./schema.ts";

/**
 * Read, interpolate and validate a config file. Every mistake becomes one usage error
 * (exit 2) of the form `cdc.yaml: sinks.wh.url: required`.
 */
export function loadConfig(path: string, env: Record<string, string | undefined> = process.env): Config {
  const file = basename(path);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw usageError("config_read", `${path}: cannot read config file (${code === "ENOENT" ? "no such file" : code})`);
  }
  return parseConfig(text, file, env);
}

export function parseConfig(text: string, file: string, env: Record<string, string | undefined> = process.env): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    const pos = err.linePos?.[0];
    const where = pos ? `line ${pos.line}, column ${pos.col}` : "";
    // `pool: ${POOL:-4}` inside `{ ... }` is YAML's own flow map syntax; the parser's message
    // ("Unexpected flow-map-start at node end") does not say what to do
    const line = pos ? (text.split("\n")[pos.line - 1] ?? "") : "";
    const hint = /[{[].*\$\{/.test(line.replace(/'[^']*'|"[^"]*"/g, "")) ? ` (inside { } or [ ], quote a value that holds \${...}: "\${VAR:-default}")` : "";
    throw usageError("config_yaml", `${file}: ${where ? where + ": " : ""}invalid YAML: ${err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")}${hint}`);
  }
  const raw = interpolate(doc.toJS({ maxAliasCount: 100 }) ?? {}, env, file);
  return validateConfig(raw, file);
}

export function validateConfig(raw: unknown, file: string): Config {
  const fail = (msg: string) => usageError("config_invalid", `${file}: ${msg}`);
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw fail("(root): must be a mapping with source, sinks and pipelines");
  const parsed = parseWithLiterals(configSchema, raw).result;
  if (!parsed.success) throw fail(formatIssue(firstIssue(parsed.error)));
  const cfg = parsed.data;

  const sinks: Record<string, SinkConfig> = {};
  for (const [name, block] of Object.entries(cfg.sinks)) {
    const factory = sinkFactory(block.type);
    if (!factory) {
      throw fail(`sinks.${name}.type: unknown sink type '${block.type}' (known: ${Object.keys(sinkRegistry).join(", ")})`);
    }
    const { type: _t, ...rest } = block;
    const r = parseWithLiterals(factory.configSchema, rest).result;
    if (!r.success) throw fail(formatIssue(firstIssue(r.error), ["sinks", name]));
    sinks[name] = { name, type: block.type, options: r.data as Record<string, unknown> };
  }

  const seen = new Set<string>();
  cfg.pipelines.forEach((p, i) => {
    if (seen.has(p.name)) throw fail(`pipelines.${i}.name: duplicate pipeline name '${p.name}'`);
    seen.add(p.name);
    const targets = Array.isArray(p.to) ? p.to : [p.to];
    const used = new Map<string, number>();
    targets.forEach((t, j) => {
      const at = Array.isArray(p.to) ? `pipelines.${i}.to.${j}` : `pipelines.${i}.to`;
      const sinkName = typeof t === "string" ? t : t.sink;
      const sink = sinks[sinkName];
      if (!sink) throw fail(`${typeof t === "string" ? at : at + ".sink"}: unknown sink '${sinkName}' (defined: ${Object.keys(sinks).join(", ") || "none"})`);
      // A sink keeps one position per pipeline. Two entries of one pipeline into the same sink were
      // two writers sharing it: one moved it past rows the other had not written (a crash then lost
      // them for good). The redis sink applies all of a pipeline's entries in each write, so it may.
      const first = used.get(sinkName);
      if (first !== undefined && sink.type !== "redis") {
        throw fail(`${typeof t === "string" ? at : at + ".sink"}: pipeline '${p.name}' already writes to sink '${sinkName}' (to.${first}); a pipeline writes to a ${sink.type} sink once (its position there is one per pipeline): use a second pipeline for the second target`);
      }
      used.set(sinkName, j);
      const factory = sinkFactory(sink.type)!;
      if (typeof t !== "string" && factory.targetSchema) {
        const { sink: _s, table: _tb, key: _k, ...opts } = t;
        const { result: r, input } = parseWithLiterals(factory.targetSchema, opts);
        if (!r.success) throw fail(formatIssue(firstIssue(r.error), at.split(".")));
        // The sink parses its target options again from the config: give it the literals.
        Object.assign(t, input);
      }
      // A mirror applies `to.key` / `to.table` only when it copies one table; with several they
      // were ignored, silently (a keyless table stayed append-only, nothing was renamed).
      if (typeof t !== "string" && isMirror(p)) {
        const from = Array.isArray(p.from) ? p.from : [p.from];
        const many = from.length > 1 || from[0].endsWith(".*");
        for (const k of ["key", "table"] as const) {
          if (t[k] !== undefined && many) throw fail(`${at}.${k}: only a mirror of one table can set ${k} (this one reads ${from.length > 1 ? `${from.length} table patterns` : from[0]}); give that table a pipeline of its own`);
        }
        // One key for every sink of a mirror: its records carry one key.
        const first = typeof targets[0] === "string" ? undefined : targets[0].key;
        if (t.key && JSON.stringify(t.key) !== JSON.stringify(first ?? null)) {
          throw fail(`${at}.key: every sink of a mirror gets the same key; set the same key on each 'to' entry (the first has ${first ? `[${first.join(", ")}]` : "none"})`);
        }
      }
    });
  });

  return { ...cfg, sinks, file };
}

/** A pipeline without operators: every change is copied as it is (engine/operators isMirror). */
function isMirror(p: Config["pipelines"][number]): boolean {
  return !p.where && !p.select && !p.join?.length && !p.window && !p.aggregate && !p.transform && !p.validate?.length && !p.group_by;
}

function firstIssue(err: z.ZodError): z.core.$ZodIssue {
  // A misspelt key ("sink:") also leaves the right one missing ("sinks: required"): the unknown
  // key in the same object is what the user typed wrong, so it goes first.
  const missing = err.issues[0];
  const absent = (i: z.core.$ZodIssue): boolean =>
    (i.code === "invalid_type" && /received undefined/.test(i.message)) || (i.code === "invalid_union" && i.errors.length > 0 && i.errors.every((b) => b[0] !== undefined && b[0].path.length === 0 && absent(b[0])));
  if (absent(missing)) {
    const parent = missing.path.slice(0, -1).join(".");
    const typo = err.issues.find((i) => i.code === "unrecognized_keys" && i.path.join(".") === parent);
    if (typo) return { ...typo, message: `did you mean '${String(missing.path[missing.path.length - 1])}'?` };
  }
  // Unions report nested issues; the deepest one names the real problem.
  let issue = err.issues[0];
  while (issue.code === "invalid_union" && issue.errors?.length) {
    const branches = issue.errors.map((b) => b[0]).filter(Boolean);
    const best = branches.sort((a, b) => b.path.length - a.path.length)[0];
    if (!best || best.path.length === 0) break;
    issue = { ...best, path: [...issue.path, ...best.path] };
  }
  return issue;
}

/**
 * A credential written in the file itself: a URL with a password, or a password/token/secret key
 * with a literal value. Not a `${VAR}` (the secret lives elsewhere), nor a word in a comment
 * (compose's commented config drew the warning).
 */
function holdsSecret(text: string): boolean {
  const code = text
    .split("\n")
    .map((l) => l.replace(/(^|\s)#.*$/, ""))
    .join("\n");
  return /:\/\/[^/\s:@]+:(?!\$\{)[^@\s]+@/.test(code) || /\b[\w-]*(password|passwd|token|secret|api_?key)[\w-]*["']?\s*:\s*(?!\$\{)["']?[^\s"'${}][^\n]*/i.test(code);
}

/** World-readable config that holds secrets: worth a warning (operations issue). */
export function configPermissionWarning(path: string, text: string): string | null {
  try {
    const mode = statSync(path).mode;
    if (mode & 0o004 && holdsSecret(text)) {
      // Not just "chmod 600": under systemd and Docker the engine reads the file through its group (0640).
      return `${path} is world-readable and holds secrets; run: chmod o-r ${path} (600 when the engine runs as its owner; 640 with the engine's group, as the systemd unit and the Docker image read it)`;
    }
  } catch {}
  return null;
}
