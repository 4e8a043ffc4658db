import type { z } from "zod";

/** One zod issue as "key.path: what is wrong", in the words a YAML editor expects. */
export function formatIssue(issue: z.core.$ZodIssue, prefix: (string | number)[] = []): string {
  const path = [...prefix, ...issue.path].map(String).join(".") || "(root)";
  return `${path}: ${describe(issue)}`;
}

function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      if (/received undefined/.test(issue.message)) return "required";
      return `expected ${issue.expected === "int" ? "an integer" : issue.expected}${received(issue.message)}`;
    case "unrecognized_keys":
      // firstIssue puts "did you mean ..." in the message when a required key is missing beside it
      return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `'${k}'`).join(", ")}${issue.message.startsWith("did you mean") ? ` (${issue.message})` : ""}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_union": {
      // Every branch wanted another type (e.g. a duration given `true`): say which types fit.
      const firsts = issue.errors.map((b) => b[0]);
      if (firsts.length && firsts.every((b) => b?.code === "invalid_type" && b.path.length === 0)) {
        const types = [...new Set(firsts.map((b) => String((b as { expected: string }).expected)))];
        return `expected ${types.join(" or ")}${received(firsts[0]!.message)}`;
      }
      return "has the wrong shape (see the README for the accepted forms)";
    }
    case "too_small":
      if (issue.origin === "array") return issue.message.startsWith("Too small") ? `needs at least ${issue.minimum} item(s)` : issue.message;
      if (issue.origin === "string") return issue.minimum === 1 ? "must not be empty" : `must be at least ${issue.minimum} characters`;
      // a schema's own message says why (retry.max_attempts); zod's default one is "Too small: ..."
      if (!issue.message.startsWith("Too small")) return issue.message;
      return `must be >= ${issue.minimum}`;
    case "too_big":
      return `must be <= ${issue.maximum}`;
    default:
      return issue.message;
  }
}

function received(message: string): string {
  const m = /received (\w+)/.exec(message);
  return m ? `, got ${m[1]}` : "";
}
