// A product's popularity is the units of its sales placed in the 30 days up to an event's time,
// less the cancelled. Each SKU keeps a running count over a window (from, to] with its edges where
// the last event that asked left them; the next event slides the edges to (at - 30 days, at] and
// counts only the sales the edges pass over, so a batch reads the sales near the edges, not the
// whole window. Summing the window instead grew with every order of the SKU: on one hot SKU, by
// 20,000 orders the two sales queries of each batch were 29% of the database's time.
//
// The count is exact whatever order the edges move in: the sales in (a, b] summed with a sign
// (negative when b < a) make count(from', to'] = count(from, to] + sum(to, to'] - sum(from, from'].
// A sale placed or cancelled between the edges changes the count at once; one outside them is
// counted, or not, when an edge passes it.

import type { SqlExecutor } from "../../infrastructure/sql/sql-client.js";
import { ident, int, iso } from "../sql-text.js";

export const POPULARITY_WINDOW_DAYS = 30;
const WINDOW_MS = POPULARITY_WINDOW_DAYS * 86_400_000;

/** One SKU's running count: the units of its sales in (from, to] that are not cancelled. */
export interface PopularityWindow {
  from: number;
  to: number;
  units: number;
  changed: boolean;
}

/** What the window needs of a sale. */
export interface CountedSale {
  units: number;
  placedAt: number;
  cancelled: boolean;
}

/** The table of windows: one row per SKU that an event has asked about. */
export const popularityWindowSchema = (table: string): string =>
  `CREATE TABLE ${ident(table)} (sku text PRIMARY KEY, window_from timestamptz NOT NULL, window_to timestamptz NOT NULL, units bigint NOT NULL);`;

/** A SKU no event has asked about yet: nothing counted, its edges before every sale. */
const empty = (): PopularityWindow => ({ from: Number.NEGATIVE_INFINITY, to: Number.NEGATIVE_INFINITY, units: 0, changed: false });

/**
 * The SKUs' windows, and every sale of theirs the edges can pass over while events timed between
 * `earliest` and `latest` slide them: a SKU's whole history the first time, then only the sales
 * near its edges (the two ranges of a SKU may overlap: a sale can come twice).
 */
export async function readPopularityWindows(
  sql: SqlExecutor,
  tables: { sales: string; popularity: string },
  skus: readonly string[],
  earliest: number,
  latest: number,
): Promise<{ windows: Map<string, PopularityWindow>; sales: Record<string, unknown>[] }> {
  const windows = new Map<string, PopularityWindow>();
  const { rows } = await sql.query<Record<string, unknown>>(`SELECT * FROM ${ident(tables.popularity)} WHERE sku = ANY ($1::text[])`, [
    skus,
  ]);
  for (const r of rows)
    windows.set(String(r.sku), {
      from: Date.parse(iso(r.window_from)),
      to: Date.parse(iso(r.window_to)),
      units: int(r.units),
      changed: false,
    });
  const ranges: { sku: string; after: number; upTo: number }[] = [];
  for (const sku of skus) {
    const w = windows.get(sku) ?? empty();
    windows.set(sku, w);
    ranges.push({ sku, after: Math.min(w.from, earliest - WINDOW_MS), upTo: Math.max(w.from, latest - WINDOW_MS) });
    ranges.push({ sku, after: Math.min(w.to, earliest), upTo: Math.max(w.to, latest) });
  }
  // Infinite edges as PostgreSQL's own infinities, so both bounds stay index conditions (a NULL
  // for "no bound" made it a filter over every sale of the SKU).
  const moment = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : ms > 0 ? "infinity" : "-infinity");
  const sales = await sql.query<Record<string, unknown>>(
    `SELECT s.* FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS r(sku, after, up_to)
       JOIN ${ident(tables.sales)} s ON s.sku = r.sku AND s.placed_at > r.after AND s.placed_at <= r.up_to`,
    [ranges.map((r) => r.sku), ranges.map((r) => moment(r.after)), ranges.map((r) => moment(r.upTo))],
  );
  return { windows, sales: sales.rows };
}

/** The units of the sales in (a, b] not cancelled, negative when b < a. */
function signedSum(sales: readonly CountedSale[], a: number, b: number): number {
  if (a === b) return 0;
  const [low, high, sign] = a < b ? [a, b, 1] : [b, a, -1];
  let units = 0;
  for (const s of sales) if (!s.cancelled && s.placedAt > low && s.placedAt <= high) units += s.units;
  return sign * units;
}

/** The SKU's popularity at `at`: its window slid to (at - 30 days, at]. `sales`: every sale of the SKU the edges can pass over. */
export function popularityAt(window: PopularityWindow, sales: readonly CountedSale[], at: number): number {
  const from = at - WINDOW_MS;
  window.units += signedSum(sales, window.to, at) - signedSum(sales, window.from, from);
  window.from = from;
  window.to = at;
  window.changed = true;
  return window.units;
}

/** A sale placed (+1) or cancelled (-1): counted at once when it lies between the window's edges. */
export function countSale(window: PopularityWindow, sale: CountedSale, sign: 1 | -1): void {
  if (sale.placedAt <= window.from || sale.placedAt > window.to) return;
  window.units += sign * sale.units;
  window.changed = true;
}

/** Stores the windows a batch moved or counted into. */
export async function writePopularityWindows(
  sql: SqlExecutor,
  table: string,
  windows: ReadonlyMap<string, PopularityWindow>,
): Promise<void> {
  const changed = [...windows].filter(([, w]) => w.changed && Number.isFinite(w.from));
  if (changed.length === 0) return;
  await sql.query(
    `INSERT INTO ${ident(table)} (sku, window_from, window_to, units)
     SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::bigint[])
     ON CONFLICT (sku) DO UPDATE SET window_from = EXCLUDED.window_from, window_to = EXCLUDED.window_to, units = EXCLUDED.units`,
    [
      changed.map(([sku]) => sku),
      changed.map(([, w]) => new Date(w.from).toISOString()),
      changed.map(([, w]) => new Date(w.to).toISOString()),
      changed.map(([, w]) => w.units),
    ],
  );
}
