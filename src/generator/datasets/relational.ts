import ddl from "../../../sql/relational.sql" with { type: "text" };
import { MICROS, tsSec } from "../clock.ts";
import type { Batch, Dataset, DatasetContext, Row } from "../dataset.ts";
import { cents } from "../random.ts";
import { KeyPool } from "./key-pool.ts";

/**
 * SCENARIOS.md scenario 5: each run adds users, transactions (by new and existing users) and
 * detailed transactions (lines of this run's transactions, with the transaction's own user), in
 * one database transaction, parents first: the foreign keys hold at every commit.
 */
const STATUSES: [string, number][] = [["completed", 70], ["pending", 20], ["failed", 6], ["refunded", 4]];
const PRODUCTS: [string, number][] = [
  ["Wireless Mouse", 2499], ["Mechanical Keyboard", 8999], ["USB-C Hub", 3999], ["27\" Monitor", 27999],
  ["Noise Cancelling Headphones", 19999], ["Laptop Stand", 4599], ["Webcam HD", 5999], ["Desk Lamp", 3499],
  ["Coffee Beans 1kg", 1899], ["Water Bottle", 1299], ["Running Shoes", 11999], ["Yoga Mat", 2999],
  ["Backpack", 6999], ["Notebook Set", 999], ["Fountain Pen", 4999], ["Phone Case", 1999],
];
const USER_COLS = ["user_id", "name", "email", "age", "city", "registration_date"];
const TXN_COLS = ["transaction_id", "user_id", "amount", "transaction_date", "status"];

export function relationalDataset(): Dataset {
  const users = new KeyPool<string>(10_000);
  const pendingTxns = new KeyPool<string>(10_000);
  const details = new KeyPool<number>(10_000);

  const counts = (ctx: DatasetContext) => ({
    users: ctx.counts.users ?? 10,
    transactions: ctx.counts.transactions ?? 30,
    details: ctx.counts.details ?? 100,
  });

  return {
    name: "relational",
    tables: ["users", "transactions", "detailed_transactions"],
    ddl,
    defaultRate: 0,
    unitRows: (ctx) => {
      const c = counts(ctx);
      return c.users + c.transactions + c.details;
    },

    async setup(ctx) {
      for (const r of await ctx.sql`select user_id from users order by registration_date desc nulls last, user_id limit 10000`) users.add(r.user_id as string);
      if (ctx.updates > 0) {
        for (const r of await ctx.sql`select transaction_id from transactions where status = 'pending' order by transaction_date desc, transaction_id limit 10000`) pendingTxns.add(r.transaction_id as string);
      }
      if (ctx.deletes > 0) for (const r of await ctx.sql`select id from detailed_transactions order by id desc limit 10000`) details.add(r.id as number);
      return 0;
    },

    /** One run (the whole unit); `n` is ignored: a run is never split, or the FKs could not hold per commit. */
    next(_n, ctx): Batch {
      const { rng, faker } = ctx;
      const c = counts(ctx);
      const now = ctx.clock.nowMicros();
      const newUsers: Row[] = Array.from({ length: c.users }, () => {
        const first = faker.person.firstName();
        const last = faker.person.lastName();
        return {
          user_id: rng.uuid(),
          name: `${first} ${last}`,
          email: faker.internet.email({ firstName: first, lastName: last }).toLowerCase(),
          age: rng.int(18, 80),
          city: faker.location.city(),
          registration_date: tsSec(now - rng.int(0, 3 * 365) * MICROS.day - rng.int(0, 86_399) * MICROS.second),
        };
      });
      const userIds = newUsers.map((u) => u.user_id as string);
      const pickUser = () => (users.size && rng.chance(0.5) ? users.pick(rng)! : rng.pick(userIds));
      const txns: Row[] = [];
      for (let i = 0; i < c.transactions && (userIds.length || users.size); i++) {
        txns.push({
          transaction_id: rng.uuid(),
          user_id: pickUser(),
          amount: "0.00",
          transaction_date: tsSec(now - rng.int(0, 3600) * MICROS.second),
          status: rng.weighted(STATUSES),
        });
      }
      const lines: Row[] = [];
      const totals = new Map<string, number>();
      for (let i = 0; i < c.details && txns.length; i++) {
        const t = i < txns.length ? txns[i] : rng.pick(txns); // every transaction gets at least one line when there are enough
        const [product, price] = rng.pick(PRODUCTS);
        const quantity = rng.weighted([[1, 60], [2, 25], [3, 10], [5, 5]]);
        const unit = Math.max(99, price + rng.int(-200, 200));
        totals.set(t.transaction_id as string, (totals.get(t.transaction_id as string) ?? 0) + unit * quantity);
        const line: Row = { transaction_id: t.transaction_id, user_id: t.user_id, product_name: product, quantity, unit_price: cents(unit) };
        if (ctx.clock.virtual) line.created_at = tsSec(now);
        lines.push(line);
      }
      for (const t of txns) t.amount = cents(totals.get(t.transaction_id as string) ?? 0);

      const statusUpdates: Row[] = [];
      const nUpd = Math.round(c.transactions * ctx.updates);
      for (let i = 0; i < nUpd && pendingTxns.size; i++) statusUpdates.push({ transaction_id: pendingTxns.take(rng)!, status: rng.chance(0.85) ? "completed" : "failed" });
      const deletes: Row[] = [];
      const nDel = Math.round(c.details * ctx.deletes);
      for (let i = 0; i < nDel && details.size; i++) deletes.push({ id: details.take(rng)! });

      const detailCols = ["transaction_id", "user_id", "product_name", "quantity", "unit_price", ...(ctx.clock.virtual ? ["created_at"] : [])];
      return {
        ops: [
          { kind: "insert", table: "users", columns: USER_COLS, rows: newUsers },
          { kind: "insert", table: "transactions", columns: TXN_COLS, rows: txns },
          { kind: "insert", table: "detailed_transactions", columns: detailCols, rows: lines, returning: ctx.deletes > 0 ? "id" : undefined },
          { kind: "update", table: "transactions", key: ["transaction_id"], set: ["status"], rows: statusUpdates },
          { kind: "delete", table: "detailed_transactions", key: ["id"], rows: deletes },
        ],
        onCommit(returned) {
          for (const id of userIds) users.add(id);
          for (const t of txns) if (t.status === "pending") pendingTxns.add(t.transaction_id as string);
          for (const id of returned.get(2) ?? []) details.add(id as number);
        },
      };
    },

    async report(ctx) {
      const [r] = await ctx.sql`
        select
          (select count(*) from users) as users,
          (select count(*) from transactions) as transactions,
          (select count(*) from detailed_transactions) as detailed_transactions,
          (select count(*) from transactions t left join users u on u.user_id = t.user_id where t.user_id is not null and u.user_id is null) as orphan_transactions,
          (select count(*) from detailed_transactions d left join transactions t on t.transaction_id = d.transaction_id where d.transaction_id is not null and t.transaction_id is null) as orphan_details_by_transaction,
          (select count(*) from detailed_transactions d left join users u on u.user_id = d.user_id where d.user_id is not null and u.user_id is null) as orphan_details_by_user`;
      return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)]));
    },
  };
}
