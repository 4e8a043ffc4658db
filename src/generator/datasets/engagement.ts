import ddl from "../../../sql/engagement.sql" with { type: "text" };
import { MICROS, tsTz } from "../clock.ts";
import type { Batch, Dataset, DatasetContext, Row } from "../dataset.ts";
import { Zipf } from "../random.ts";
import { KeyPool } from "./key-pool.ts";

/**
 * SCENARIOS.md scenario 2: content (podcast/newsletter/video) and engagement events whose
 * durations fit the content's length. Popularity is Zipf-skewed (a few items get most of the
 * plays), so the top-engagement leaderboard has a clear head and a long tail.
 */
interface ContentItem {
  id: string;
  length: number | null;
}

const TYPES: [string, number][] = [["podcast", 4], ["newsletter", 3], ["video", 3]];
const LENGTH: Record<string, [number, number]> = { podcast: [900, 5400], newsletter: [120, 900], video: [60, 1800] };
const EVENTS: [string, number][] = [["play", 45], ["pause", 20], ["finish", 15], ["click", 20]];
const DEVICES: [string, number][] = [["ios", 30], ["android", 30], ["web", 25], ["smart_tv", 8], ["desktop", 7]];
const COUNTRIES = ["US", "BR", "DE", "GB", "IN", "FR", "ES", "MX", "JP", "CA"];
const REFERRERS = ["home_feed", "search", "push", "email", "share_link", "autoplay"];
const EVENT_COLUMNS = ["content_id", "user_id", "event_type", "event_ts", "duration_ms", "device", "raw_payload"];
const CONTENT_COLUMNS = ["id", "slug", "title", "content_type", "length_seconds", "publish_ts"];
const USERS = 20_000;
const INITIAL_CONTENT = 200;
/** New content keeps arriving, slowly. */
const NEW_CONTENT_PER_EVENT = 0.0005;

export function engagementDataset(): Dataset {
  let content: ContentItem[] = [];
  let zipf = new Zipf(1);
  let users: string[] = [];
  const events = new KeyPool<bigint, number>(); // event id → its content's length in ms

  function newContent(ctx: DatasetContext, publishUs: number): Row {
    const { rng, faker } = ctx;
    const type = rng.weighted(TYPES);
    const [lo, hi] = LENGTH[type];
    // A few newsletters have no known length: engagement_pct must come out NULL for them.
    const length = type === "newsletter" && rng.chance(0.03) ? null : rng.int(lo, hi);
    const title = faker.company.catchPhrase();
    const id = rng.uuid();
    return {
      id,
      slug: `${faker.helpers.slugify(title).toLowerCase()}-${id.slice(0, 8)}`,
      title,
      content_type: type,
      length_seconds: length,
      publish_ts: tsTz(publishUs),
    };
  }

  const lengthMs = new Map<string, number>();
  function setContent(items: ContentItem[]) {
    content = items;
    for (const c of items) lengthMs.set(c.id, (c.length ?? 600) * 1000);
    zipf = new Zipf(items.length, 1.07);
  }

  function event(ctx: DatasetContext, nowUs: number): Row {
    const { rng } = ctx;
    const c = content[zipf.sample(rng)];
    const type = rng.weighted(EVENTS);
    const lenMs = (c.length ?? 600) * 1000;
    const dur =
      type === "finish" ? Math.round(lenMs * (0.9 + rng.float() * 0.1))
      : type === "play" ? Math.round(lenMs * (0.05 + rng.float() * 0.95))
      : type === "pause" ? Math.round(lenMs * (0.01 + rng.float() * 0.79))
      : Math.min(lenMs, rng.int(0, 2000));
    return {
      content_id: c.id,
      user_id: users[Math.floor(Math.pow(rng.float(), 1.5) * USERS)],
      event_type: type,
      event_ts: tsTz(nowUs),
      duration_ms: dur,
      device: rng.weighted(DEVICES),
      raw_payload: {
        session_id: rng.hex32().slice(0, 16),
        app_version: `4.${rng.int(0, 12)}.${rng.int(0, 9)}`,
        country: rng.pick(COUNTRIES),
        referrer: rng.pick(REFERRERS),
        position_ms: type === "click" ? 0 : Math.max(0, lenMs - dur > 0 ? rng.int(0, lenMs - dur) : 0),
      },
    };
  }

  return {
    name: "engagement",
    tables: ["content", "engagement_events"],
    ddl,
    defaultRate: 200_000 / 60,

    async setup(ctx) {
      users = Array.from({ length: USERS }, () => ctx.rng.uuid());
      const existing = await ctx.sql`select id, length_seconds from content order by publish_ts, id`;
      const items: ContentItem[] = existing.map((r) => ({ id: r.id as string, length: r.length_seconds as number | null }));
      let written = 0;
      if (items.length < INITIAL_CONTENT) {
        const start = ctx.clock.nowMicros();
        const rows = Array.from({ length: INITIAL_CONTENT - items.length }, () => newContent(ctx, start - ctx.rng.int(1, 365) * MICROS.day));
        await ctx.sql`insert into content ${ctx.sql(rows, CONTENT_COLUMNS)}`;
        for (const r of rows) items.push({ id: r.id as string, length: r.length_seconds as number | null });
        written = rows.length;
      }
      // Shuffle popularity ranks deterministically so the newest items are not always the top ones.
      for (let i = items.length - 1; i > 0; i--) {
        const j = ctx.rng.int(0, i);
        [items[i], items[j]] = [items[j], items[i]];
      }
      setContent(items);
      return written;
    },

    next(n, ctx): Batch {
      const { rng } = ctx;
      const contentRows: Row[] = [];
      const rows: Row[] = [];
      const updates: Row[] = [];
      const deletes: Row[] = [];
      const lens: number[] = [];
      for (let i = 0; i < n; i++) {
        const r = rng.float();
        const upd = r < ctx.updates ? events.pick(rng) : undefined;
        if (upd !== undefined) {
          // A client re-sends a corrected duration for an earlier event (still within the content's length).
          updates.push({ id: upd, duration_ms: rng.int(0, events.get(upd)!) });
          continue;
        }
        const gone = r >= ctx.updates && r < ctx.updates + ctx.deletes ? events.take(rng) : undefined;
        if (gone !== undefined) {
          deletes.push({ id: gone });
          continue;
        }
        const now = ctx.clock.nowMicros();
        // On top of the n events: --burst 100000 is 100,000 events, as the seed means it.
        if (rng.chance(NEW_CONTENT_PER_EVENT)) contentRows.push(newContent(ctx, now));
        const e = event(ctx, ctx.late > 0 && rng.chance(ctx.late) ? now - rng.int(1, ctx.lateByUs) : now);
        rows.push(e);
        lens.push(lengthMs.get(e.content_id as string) ?? 600_000);
      }
      const track = ctx.updates + ctx.deletes > 0;
      return {
        ops: [
          { kind: "insert", table: "content", columns: CONTENT_COLUMNS, rows: contentRows, uncounted: true },
          { kind: "insert", table: "engagement_events", columns: EVENT_COLUMNS, rows, returning: track ? "id" : undefined },
          { kind: "update", table: "engagement_events", key: ["id"], set: ["duration_ms"], rows: updates },
          { kind: "delete", table: "engagement_events", key: ["id"], rows: deletes },
        ],
        onCommit(returned) {
          // New content is referenced only once committed (events in other transactions need the FK).
          if (contentRows.length) setContent([...content, ...contentRows.map((c) => ({ id: c.id as string, length: c.length_seconds as number | null }))]);
          (returned.get(1) ?? []).forEach((id, i) => events.add(id as bigint, lens[i]));
        },
      };
    },
  };
}
