import ddl from "../../../sql/orders.sql" with { type: "text" };
import { tsTz } from "../clock.ts";
import type { Batch, Dataset, DatasetContext, Row } from "../dataset.ts";
import { cents } from "../random.ts";
import { KeyPool } from "./key-pool.ts";

/**
 * SCENARIOS.md scenarios 3 and 4: `orders` across 100 customers (about 100 orders/min by default).
 * Simulate mode (--updates/--deletes) moves orders along pending → processing → shipped →
 * delivered, or cancelled, and deletes some; --invalid and --dirty feed the warehouse's validation.
 */
const NEXT: Record<string, [string, number][]> = {
  pending: [["processing", 9], ["cancelled", 1]],
  processing: [["shipped", 92], ["cancelled", 8]],
  shipped: [["delivered", 1]],
};
const INITIAL: [string, number][] = [["pending", 25], ["processing", 20], ["shipped", 20], ["delivered", 28], ["cancelled", 7]];
const CUSTOMERS = 100;
const PRODUCTS = 50;

function dirtyStatus(s: string, ctx: DatasetContext): string {
  const v = ctx.rng.int(0, 3);
  if (v === 0) return ` ${s}`;
  if (v === 1) return `${s.toUpperCase()} `;
  if (v === 2) return s[0].toUpperCase() + s.slice(1);
  return `  ${s}\t`;
}

export function ordersDataset(): Dataset {
  const active = new KeyPool<bigint, string>(); // order_id → status, not yet delivered/cancelled
  const known = new KeyPool<bigint>(); // every order the generator may delete

  return {
    name: "orders",
    tables: ["orders"],
    ddl,
    defaultRate: 100 / 60,

    async setup(ctx) {
      if (ctx.updates + ctx.deletes === 0) return 0;
      // Continue the simulation over orders from earlier runs (newest first, bounded).
      const rows = await ctx.sql`select order_id, status from orders order by order_id desc limit 20000`;
      for (const r of rows.reverse()) {
        const id = r.order_id as bigint;
        known.add(id);
        const st = String(r.status ?? "").trim().toLowerCase();
        if (NEXT[st]) active.add(id, st);
      }
      return 0;
    },

    next(n, ctx): Batch {
      const { rng } = ctx;
      const inserts: Row[] = [];
      const updates: Row[] = [];
      const deletes: Row[] = [];
      // created_at is explicit when seeded (virtual clock) or when late rows are asked for.
      const withTs = ctx.clock.virtual || ctx.late > 0;
      for (let i = 0; i < n; i++) {
        const r = rng.float();
        const id = r < ctx.updates ? active.pick(rng) : undefined;
        if (id !== undefined) {
          const next = rng.weighted(NEXT[active.get(id)!]);
          if (NEXT[next]) active.add(id, next);
          else active.remove(id);
          updates.push({ order_id: id, status: next });
          continue;
        }
        const gone = r >= ctx.updates && r < ctx.updates + ctx.deletes ? known.take(rng) : undefined;
        if (gone !== undefined) {
          active.remove(gone);
          deletes.push({ order_id: gone });
          continue;
        }
        let status = ctx.updates > 0 ? "pending" : rng.weighted(INITIAL);
        if (ctx.dirty > 0 && rng.chance(ctx.dirty)) status = dirtyStatus(status, ctx);
        const row: Row = {
          customer_id: rng.int(1, CUSTOMERS),
          product_id: rng.int(1, PRODUCTS),
          quantity: rng.weighted([[1, 50], [2, 25], [3, 12], [4, 8], [5, 5]]),
          price: cents(rng.int(299, 49_999)),
          status,
        };
        if (ctx.invalid > 0 && rng.chance(ctx.invalid)) {
          if (rng.chance(0.5)) row.customer_id = null;
          else row.price = cents(-rng.int(100, 9_999));
        }
        // Unseeded: created_at is the database's now() (its DEFAULT); seeded: the virtual clock.
        if (withTs) row.created_at = tsTz(ctx.clock.nowMicros() - (ctx.late > 0 && rng.chance(ctx.late) ? rng.int(1, ctx.lateByUs) : 0));
        inserts.push(row);
      }
      const simulate = ctx.updates + ctx.deletes > 0;
      const columns = ["customer_id", "product_id", "quantity", "price", "status", ...(withTs ? ["created_at"] : [])];
      return {
        ops: [
          { kind: "insert", table: "orders", columns, rows: inserts, returning: simulate ? "order_id" : undefined },
          { kind: "update", table: "orders", key: ["order_id"], set: ["status"], rows: updates },
          { kind: "delete", table: "orders", key: ["order_id"], rows: deletes },
        ],
        onCommit(returned) {
          const ids = returned.get(0) ?? [];
          ids.forEach((id, i) => {
            known.add(id as bigint);
            const st = String(inserts[i].status).trim().toLowerCase();
            if (NEXT[st]) active.add(id as bigint, st);
          });
        },
      };
    },
  };
}
