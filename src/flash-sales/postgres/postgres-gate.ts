// The flash-sale gate on PostgreSQL (and the same SQL on PGlite), for shops without Redis. Each
// claim is one call of fs_claim: a plain read answers the window and sold-out cases without a
// lock; otherwise the customer's row is raised under the limit and then the one atomic
// conditional UPDATE `remaining = remaining - q WHERE remaining >= q` takes the units. The sale's
// row is locked only from that UPDATE to the commit, so claims queue on it briefly and exactly.
// Slower than Redis, but durable: it never needs reloading from the log.

import { migrate, type Migration } from "../../infrastructure/sql/migrations.js";
import type { SqlClient } from "../../infrastructure/sql/sql-client.js";
import type {
  ClaimOutcome,
  CloseOutcome,
  FlashSaleGate,
  GateClaim,
  GateClaimStatus,
  GateSnapshot,
  GateStatus,
  ReleaseOutcome,
  UseOutcome,
} from "../gate.js";
import { claimOutcomeOf, releaseOutcomeOf } from "../gate-replies.js";

export const postgresGateMigrations: readonly Migration[] = [
  {
    id: "flash-sales/001-gate",
    sql: `
      CREATE TABLE flash_sale_gate (
        sale_id text PRIMARY KEY,
        quantity integer NOT NULL,
        remaining integer NOT NULL CHECK (remaining >= 0),
        starts_at bigint NOT NULL,
        ends_at bigint NOT NULL,
        per_customer_limit integer NOT NULL,
        hold_ttl_ms bigint NOT NULL,
        closed boolean NOT NULL DEFAULT false,
        unsold integer
      );
      CREATE TABLE flash_sale_gate_customers (
        sale_id text NOT NULL,
        customer_id text NOT NULL,
        held integer NOT NULL CHECK (held >= 0),
        PRIMARY KEY (sale_id, customer_id)
      );
      CREATE TABLE flash_sale_gate_claims (
        sale_id text NOT NULL,
        claim_id text NOT NULL,
        customer_id text NOT NULL,
        quantity integer NOT NULL,
        expires_at bigint NOT NULL,
        status text NOT NULL,
        order_id text,
        PRIMARY KEY (sale_id, claim_id)
      );
      CREATE INDEX flash_sale_gate_holds ON flash_sale_gate_claims (sale_id, expires_at) WHERE status = 'HELD';

      CREATE FUNCTION fs_claim(p_sale text, p_claim text, p_customer text, p_qty integer, p_now bigint)
      RETURNS TABLE (outcome text, a bigint, b bigint, c bigint) LANGUAGE plpgsql AS $fn$
      DECLARE
        s flash_sale_gate%ROWTYPE;
        earlier flash_sale_gate_claims%ROWTYPE;
        h integer;
        r integer;
      BEGIN
        SELECT * INTO s FROM flash_sale_gate WHERE sale_id = p_sale;
        IF NOT FOUND THEN RETURN QUERY SELECT 'unknownSale', NULL::bigint, NULL::bigint, NULL::bigint; RETURN; END IF;
        IF s.closed OR p_now >= s.ends_at THEN RETURN QUERY SELECT 'ended', s.ends_at, NULL::bigint, NULL::bigint; RETURN; END IF;
        IF p_now < s.starts_at THEN RETURN QUERY SELECT 'notStarted', s.starts_at, NULL::bigint, NULL::bigint; RETURN; END IF;
        SELECT * INTO earlier FROM flash_sale_gate_claims WHERE sale_id = p_sale AND claim_id = p_claim;
        IF FOUND THEN
          IF earlier.customer_id = p_customer THEN
            RETURN QUERY SELECT 'granted', earlier.expires_at, s.remaining::bigint, earlier.quantity::bigint; RETURN;
          END IF;
          RETURN QUERY SELECT 'soldOut', s.remaining::bigint, NULL::bigint, NULL::bigint; RETURN;
        END IF;
        IF p_qty > s.per_customer_limit THEN RETURN QUERY SELECT 'overLimit', 0::bigint, s.per_customer_limit::bigint, NULL::bigint; RETURN; END IF;
        -- Sold out as last committed: answered without taking any lock.
        IF s.remaining < p_qty THEN RETURN QUERY SELECT 'soldOut', s.remaining::bigint, NULL::bigint, NULL::bigint; RETURN; END IF;
        INSERT INTO flash_sale_gate_customers AS fc (sale_id, customer_id, held) VALUES (p_sale, p_customer, p_qty)
          ON CONFLICT (sale_id, customer_id) DO UPDATE SET held = fc.held + excluded.held
          WHERE fc.held + excluded.held <= s.per_customer_limit
          RETURNING fc.held INTO h;
        IF NOT FOUND THEN
          SELECT held INTO h FROM flash_sale_gate_customers WHERE sale_id = p_sale AND customer_id = p_customer;
          RETURN QUERY SELECT 'overLimit', h::bigint, s.per_customer_limit::bigint, NULL::bigint; RETURN;
        END IF;
        UPDATE flash_sale_gate SET remaining = remaining - p_qty
          WHERE sale_id = p_sale AND remaining >= p_qty AND NOT closed AND ends_at > p_now
          RETURNING remaining INTO r;
        IF NOT FOUND THEN
          UPDATE flash_sale_gate_customers SET held = held - p_qty WHERE sale_id = p_sale AND customer_id = p_customer;
          SELECT remaining INTO r FROM flash_sale_gate WHERE sale_id = p_sale;
          RETURN QUERY SELECT 'soldOut', r::bigint, NULL::bigint, NULL::bigint; RETURN;
        END IF;
        INSERT INTO flash_sale_gate_claims VALUES (p_sale, p_claim, p_customer, p_qty, p_now + s.hold_ttl_ms, 'HELD', NULL);
        RETURN QUERY SELECT 'granted', p_now + s.hold_ttl_ms, r::bigint, p_qty::bigint;
      END
      $fn$;

      CREATE FUNCTION fs_release(p_sale text, p_claim text, p_from text, p_order text, p_now bigint)
      RETURNS TABLE (outcome text, a bigint, b bigint, t text) LANGUAGE plpgsql AS $fn$
      DECLARE
        is_closed boolean;
        c flash_sale_gate_claims%ROWTYPE;
        r integer;
      BEGIN
        -- The sale's row first: a release and the sale's end are ordered, never interleaved.
        SELECT closed INTO is_closed FROM flash_sale_gate WHERE sale_id = p_sale FOR UPDATE;
        IF NOT FOUND THEN RETURN QUERY SELECT 'unknownSale', NULL::bigint, NULL::bigint, NULL::text; RETURN; END IF;
        IF is_closed THEN RETURN QUERY SELECT 'closed', NULL::bigint, NULL::bigint, NULL::text; RETURN; END IF;
        SELECT * INTO c FROM flash_sale_gate_claims WHERE sale_id = p_sale AND claim_id = p_claim FOR UPDATE;
        IF NOT FOUND THEN RETURN QUERY SELECT 'notFound', NULL::bigint, NULL::bigint, NULL::text; RETURN; END IF;
        IF c.status <> p_from OR (p_from = 'HELD' AND p_now < c.expires_at) OR (p_from = 'USED' AND c.order_id IS DISTINCT FROM p_order) THEN
          RETURN QUERY SELECT 'notReleasable', NULL::bigint, NULL::bigint, c.status; RETURN;
        END IF;
        UPDATE flash_sale_gate_claims SET status = 'RELEASED' WHERE sale_id = p_sale AND claim_id = p_claim;
        UPDATE flash_sale_gate_customers SET held = held - c.quantity WHERE sale_id = p_sale AND customer_id = c.customer_id;
        UPDATE flash_sale_gate SET remaining = remaining + c.quantity WHERE sale_id = p_sale RETURNING remaining INTO r;
        RETURN QUERY SELECT 'released', c.quantity::bigint, r::bigint, NULL::text;
      END
      $fn$;
    `,
  },
];

interface ClaimRow {
  sale_id: string;
  claim_id: string;
  customer_id: string;
  quantity: number;
  expires_at: string | number;
  status: GateClaimStatus;
  order_id: string | null;
}

const num = (v: unknown): number => Number(v ?? 0);

export class PostgresFlashSaleGate implements FlashSaleGate {
  readonly kind = "postgres" as const;

  private constructor(private readonly sql: SqlClient) {}

  static async open(sql: SqlClient): Promise<PostgresFlashSaleGate> {
    await migrate(sql, postgresGateMigrations);
    return new PostgresFlashSaleGate(sql);
  }

  /** PostgreSQL does not lose a sale it holds; a sale it never held is loaded (an insert that races another one does nothing). */
  async rebuild(saleId: string, snapshot: () => Promise<GateSnapshot>): Promise<"rebuilt" | "held"> {
    if (await this.status(saleId)) return "held";
    await this.load(await snapshot());
    return "rebuilt";
  }

  async load(snapshot: GateSnapshot): Promise<void> {
    const { sale, claims, closed } = snapshot;
    await this.sql.transaction(async (tx) => {
      const { rows } = await tx.query(
        `INSERT INTO flash_sale_gate (sale_id, quantity, remaining, starts_at, ends_at, per_customer_limit, hold_ttl_ms, closed, unsold)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (sale_id) DO NOTHING RETURNING sale_id`,
        [
          sale.saleId,
          sale.quantity,
          closed ? 0 : sale.quantity - claims.filter((c) => c.status !== "RELEASED").reduce((n, c) => n + c.quantity, 0),
          sale.startsAtMs,
          sale.endsAtMs,
          sale.perCustomerLimit,
          sale.holdTtlMs,
          closed !== undefined,
          closed?.unsold ?? null,
        ],
      );
      if (rows.length === 0) return; // the gate already holds it
      const held = new Map<string, number>();
      for (const c of claims) {
        await tx.query(`INSERT INTO flash_sale_gate_claims VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
          sale.saleId,
          c.claimId,
          c.customerId,
          c.quantity,
          c.expiresAtMs,
          c.status,
          c.orderId ?? null,
        ]);
        if (c.status !== "RELEASED") held.set(c.customerId, (held.get(c.customerId) ?? 0) + c.quantity);
      }
      for (const [customerId, units] of held)
        await tx.query(`INSERT INTO flash_sale_gate_customers VALUES ($1, $2, $3)`, [sale.saleId, customerId, units]);
    });
  }

  async claim(r: { saleId: string; claimId: string; customerId: string; quantity: number; nowMs: number }): Promise<ClaimOutcome> {
    const { rows } = await this.sql.query<{ outcome: string; a: string | null; b: string | null; c: string | null }>(
      "SELECT * FROM fs_claim($1, $2, $3, $4, $5)",
      [r.saleId, r.claimId, r.customerId, r.quantity, r.nowMs],
    );
    const { outcome, a, b, c } = rows[0]!;
    return claimOutcomeOf(r.claimId, outcome, a, b, c);
  }

  async use(r: { saleId: string; claimId: string; customerId: string; orderId: string; nowMs: number }): Promise<UseOutcome> {
    const { rows } = await this.sql.query<{ quantity: number }>(
      `UPDATE flash_sale_gate_claims SET status = 'USED', order_id = $4
        WHERE sale_id = $1 AND claim_id = $2 AND customer_id = $3 AND status = 'HELD' AND expires_at > $5
        RETURNING quantity`,
      [r.saleId, r.claimId, r.customerId, r.orderId, r.nowMs],
    );
    if (rows[0]) return { outcome: "used", quantity: num(rows[0].quantity) };
    const c = await this.claimOf(r.saleId, r.claimId);
    if (!c) return (await this.status(r.saleId)) ? { outcome: "notFound" } : { outcome: "unknownSale" };
    if (c.customerId !== r.customerId) return { outcome: "notOwner" };
    if (c.status === "USED") return { outcome: "alreadyUsed", orderId: c.orderId ?? "", quantity: c.quantity };
    if (c.status === "RELEASED") return { outcome: "released" };
    return { outcome: "expired" };
  }

  async release(r: { saleId: string; claimId: string; from: "HELD" | "USED"; orderId?: string; nowMs: number }): Promise<ReleaseOutcome> {
    const { rows } = await this.sql.query<{ outcome: string; a: string | null; b: string | null; t: string | null }>(
      "SELECT * FROM fs_release($1, $2, $3, $4, $5)",
      [r.saleId, r.claimId, r.from, r.orderId ?? null, r.nowMs],
    );
    const { outcome, a, b, t } = rows[0]!;
    return releaseOutcomeOf(outcome, a, b, t);
  }

  async due(r: { saleId: string; nowMs: number; limit: number }) {
    const { rows } = await this.sql.query<ClaimRow>(
      `SELECT * FROM flash_sale_gate_claims WHERE sale_id = $1 AND status = 'HELD' AND expires_at <= $2 ORDER BY expires_at, claim_id LIMIT $3`,
      [r.saleId, r.nowMs, r.limit],
    );
    return rows.map((c) => ({ claimId: c.claim_id, customerId: c.customer_id, quantity: num(c.quantity), expiresAtMs: num(c.expires_at) }));
  }

  async closeSale(r: { saleId: string; nowMs: number }): Promise<CloseOutcome> {
    return this.sql.transaction(async (tx) => {
      const { rows } = await tx.query<{ remaining: number; closed: boolean; unsold: number | null }>(
        "SELECT remaining, closed, unsold FROM flash_sale_gate WHERE sale_id = $1 FOR UPDATE",
        [r.saleId],
      );
      const s = rows[0];
      if (!s) return { outcome: "unknownSale" as const };
      if (s.closed) return { outcome: "closed" as const, unsold: num(s.unsold) };
      const held = await tx.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM flash_sale_gate_claims WHERE sale_id = $1 AND status = 'HELD'",
        [r.saleId],
      );
      const outstanding = num(held.rows[0]?.n);
      if (outstanding > 0) return { outcome: "holdsOutstanding" as const, held: outstanding };
      await tx.query("UPDATE flash_sale_gate SET closed = true, unsold = remaining, remaining = 0 WHERE sale_id = $1", [r.saleId]);
      return { outcome: "closed" as const, unsold: num(s.remaining) };
    });
  }

  async status(saleId: string): Promise<GateStatus | undefined> {
    const { rows } = await this.sql.query<{ remaining: number; closed: boolean; unsold: number | null }>(
      "SELECT remaining, closed, unsold FROM flash_sale_gate WHERE sale_id = $1",
      [saleId],
    );
    const s = rows[0];
    if (!s) return undefined;
    return { remaining: num(s.remaining), closed: s.closed, ...(s.closed ? { unsold: num(s.unsold) } : {}) };
  }

  async claimOf(saleId: string, claimId: string): Promise<GateClaim | undefined> {
    const { rows } = await this.sql.query<ClaimRow>("SELECT * FROM flash_sale_gate_claims WHERE sale_id = $1 AND claim_id = $2", [
      saleId,
      claimId,
    ]);
    const c = rows[0];
    if (!c) return undefined;
    return {
      claimId: c.claim_id,
      customerId: c.customer_id,
      quantity: num(c.quantity),
      expiresAtMs: num(c.expires_at),
      status: c.status,
      ...(c.order_id ? { orderId: c.order_id } : {}),
    };
  }

  async dispose(): Promise<void> {}
}
