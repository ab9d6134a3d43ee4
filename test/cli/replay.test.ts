// scripts/replay.ts spawned as a real process against a PostgreSQL database the real app (API,
// saga, projectors, simulated gateway) filled: exit codes, terminal versus pipe output, --json
// shapes, a corrupted read model found by verify, violations planted in the log found by
// invariants, reconciliation against the read model and against a settlement report.

import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awaitOrder, awaitStatus, paymentEvent, placeOrder } from "../api/flow.js";
import { createStorage, seedProduct, startApp, type Storage, type TestApp } from "../api/harness.js";
import { missing, server } from "../support/env.js";
import { settlementCsv, settlementRowsFromLog, type SettlementRow } from "../support/settlement.js";
import { caughtUp } from "./caught-up.js";
import { replay, replayOnTerminal } from "./spawn.js";

describe.skipIf(missing(server("DATABASE_URL")))("scripts/replay.ts as a process (PostgreSQL)", () => {
  let storage: Storage;
  let env: Record<string, string>;
  let db: pg.Client;
  let dir: string;
  const ids = { returned: "", cancelled: "", cod: "" };
  let settled: SettlementRow[] = [];

  const json = (stdout: string) => JSON.parse(stdout) as any;
  const csvFile = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "replay-test-"));
    storage = await createStorage("postgres");
    // No admission bound: on a loaded machine the pipeline's lag must not refuse the test's few orders.
    const app: TestApp = await startApp(storage, {
      PAYMENT_TIMEOUT_MS: "60000",
      ADMISSION_MAX_LAG_SECONDS: "0",
      ADMISSION_MAX_LAG_EVENTS: "0",
    });
    try {
      await seedProduct(app, "SKU-R", 10_000, 50);
      const customer = await app.token("customer", "c-replay");
      const ops = await app.token("ops", "ops-1");
      const pay = async (orderId: string) => {
        const pending = await awaitStatus(app, customer, orderId, "PAYMENT_PENDING");
        expect((await app.webhook(paymentEvent("payment.captured", pending.payment.paymentId, pending.totalAmount))).status).toBe(200);
        return awaitStatus(app, customer, orderId, "PROCESSING");
      };
      // Returned and refunded.
      ids.returned = (await placeOrder(app, customer, [{ sku: "SKU-R", quantity: 2 }])).orderId;
      await pay(ids.returned);
      expect(
        (
          await app.request("POST", `/api/orders/${ids.returned}/ship`, {
            token: ops,
            body: { carrier: "BlueDart", trackingNumber: "BD1" },
          })
        ).status,
      ).toBe(202);
      expect((await app.request("POST", `/api/orders/${ids.returned}/deliver`, { token: ops })).status).toBe(202);
      const ret = await app.request("POST", `/api/orders/${ids.returned}/returns`, {
        token: customer,
        body: { items: [{ sku: "SKU-R", quantity: 2 }], reason: "too big" },
      });
      expect((await app.request("POST", `/api/orders/${ids.returned}/returns/${ret.body.returnId}/receive`, { token: ops })).status).toBe(
        202,
      );
      await awaitOrder(
        app,
        customer,
        ids.returned,
        (o) => o.status === "RETURNED" && o.paymentStatus === "REFUNDED",
        "returned and refunded",
      );
      // Paid, then cancelled by the customer: refunded in full, stock released.
      ids.cancelled = (await placeOrder(app, customer, [{ sku: "SKU-R", quantity: 1 }])).orderId;
      await pay(ids.cancelled);
      expect(
        (await app.request("POST", `/api/orders/${ids.cancelled}/cancel`, { token: customer, body: { reason: "changed my mind" } })).status,
      ).toBe(202);
      await awaitOrder(
        app,
        customer,
        ids.cancelled,
        (o) => o.status === "CANCELLED" && o.paymentStatus === "REFUNDED",
        "cancelled and refunded",
      );
      // Cash on delivery, left in processing.
      ids.cod = (await placeOrder(app, customer, [{ sku: "SKU-R", quantity: 1 }], "COD")).orderId;
      await awaitStatus(app, customer, ids.cod, "PROCESSING");
      // Everything the saga started has settled, and every read model has caught up.
      await caughtUp(app);
      settled = await settlementRowsFromLog(app.built.store);
    } finally {
      await app.close();
    }
    env = { DATABASE_URL: storage.database!.url };
    db = new pg.Client({ connectionString: storage.database!.url, application_name: "replay-test" });
    await db.connect();
  }, 180_000);
  afterAll(async () => {
    await db?.end();
    await storage?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Appends an event with raw SQL, as a bug or a hand edit would, bypassing every aggregate rule. */
  const plant = async (streamId: string, type: string, data: Record<string, unknown>) => {
    const { rows } = await db.query<{ next: string }>(
      "SELECT coalesce(max(stream_revision) + 1, 0) AS next FROM es_events WHERE stream_id = $1",
      [streamId],
    );
    await db.query(
      `INSERT INTO es_events (event_id, stream_id, stream_revision, category, type, schema_version, data, metadata)
       VALUES ($1, $2, $3, split_part($2, '-', 1), $4, 1, $5::jsonb, $6::jsonb)`,
      [
        randomUUID(),
        streamId,
        rows[0]!.next,
        type,
        JSON.stringify({ at: new Date().toISOString(), ...data }),
        JSON.stringify({ correlationId: "x", causationId: "x", actor: "test:planted" }),
      ],
    );
  };

  describe("bad usage: a clear message, exit 2, nothing written", () => {
    const cases: [string, string[], RegExp][] = [
      ["an unknown command", ["audit"], /unknown command 'audit'/],
      ["an unknown option", ["events", "--colour"], /unknown option '--colour'/],
      ["no command", [], /name a command/],
      ["a bad date", ["reconcile", "--from", "2026-13-01", "--to", "2026-03-02"], /--from: "2026-13-01" is not a date/],
      ["a date that is not on the calendar", ["reconcile", "--from", "2026-02-30", "--to", "2026-03-02"], /not a calendar date/],
      ["a range that ends before it starts", ["reconcile", "--from", "2026-03-02", "--to", "2026-03-01"], /must be after --from/],
      ["a bad --as-of", ["order", "x", "--as-of", "yesterday"], /--as-of: "yesterday" is not a date/],
      ["a bad position", ["events", "--from-position", "12"], /not a log position/],
      ["an unknown projection", ["verify", "shipments"], /unknown projection "shipments"; known: orders, /],
      [
        "a bad format",
        ["reconcile", "--from", "2026-03-01", "--to", "2026-03-02", "--format", "xml"],
        /--format: "xml" is not one of table, csv, json/,
      ],
      ["a missing settlement file", ["reconcile", "--settlement", "/nonexistent/settle.csv"], /no such file "\/nonexistent\/settle.csv"/],
      ["rebuild with nothing to rebuild", ["rebuild"], /name a projection or give --all/],
    ];
    it.each(cases)("%s", async (_what, args, message) => {
      const before = await db.query<{ n: number }>(
        "SELECT (SELECT count(*) FROM es_events)::int + (SELECT count(*) FROM processor_checkpoints)::int AS n",
      );
      const r = await replay(args, env);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe("");
      const after = await db.query<{ n: number }>(
        "SELECT (SELECT count(*) FROM es_events)::int + (SELECT count(*) FROM processor_checkpoints)::int AS n",
      );
      expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
    });

    it("refuses a malformed settlement line, naming the line", async () => {
      const good = settlementCsv(settled).trimEnd().split("\n");
      const bad = csvFile("bad.csv", [...good.slice(0, 2), "CAPTURE,pay-x,,12.50,INR,2026-03-01T10:00:00Z,", ...good.slice(2)].join("\n"));
      const r = await replay(["reconcile", "--settlement", bad], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${bad} line 3: amount "12.50" is not a whole number`);
      const short = csvFile("short.csv", [...good, "REFUND,pay-x,rf-1,100"].join("\n"));
      const s = await replay(["reconcile", "--settlement", short], env);
      expect(s.code).toBe(2);
      expect(s.stderr).toContain(`line ${good.length + 1}: not valid CSV`);
    });
  });

  describe("reading the log", () => {
    it("events: JSON lines for machines, one per stored event, with the stored and upcast shapes on request", async () => {
      const r = await replay(["events", "--json", "--view", "both"], env);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      const { rows } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM es_events");
      expect(lines).toHaveLength(rows[0]!.n);
      expect(lines[0]).toMatchObject({
        position: expect.any(String),
        streamId: "product-SKU-R",
        revision: 0,
        stored: { type: "ProductCreated", schemaVersion: 1 },
        upcast: { type: "ProductCreated", schemaVersion: 1 },
      });
      const positions = lines.map((l) => l.position);
      expect([...positions].sort()).toEqual(positions);

      const placed = await replay(["events", "--type", "OrderPlaced", "--json"], env);
      expect(
        placed.stdout
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l).data.orderId),
      ).toEqual([ids.returned, ids.cancelled, ids.cod]);
      const after = await replay(
        ["events", "--type", "OrderPlaced", "--json", "--from-position", lines.find((l) => l.stored.type === "OrderPlaced").position],
        env,
      );
      expect(after.stdout.trim().split("\n")).toHaveLength(2);
    });

    it("events in a pipe are plain tab-separated lines; on a terminal a table", async () => {
      const piped = await replay(["events", "--stream", `order-${ids.cod}`], env);
      expect(piped.code).toBe(0);
      const first = piped.stdout.split("\n")[0]!.split("\t");
      expect(first[1]).toBe(`order-${ids.cod}@0`);
      expect(first[4]).toMatch(/^OrderPlaced v1 \{/);
      expect(piped.stdout).not.toMatch(/[┌│─]/);
      const tty = await replayOnTerminal(["events", "--stream", `order-${ids.cod}`], env);
      expect(tty.code).toBe(0);
      expect(tty.stdout).toMatch(/┌─+/);
      expect(tty.stdout).toContain("stream@revision");
      expect(tty.stdout).toContain(`order-${ids.cod}@0`);
    });

    it("order: the whole history from the order's streams, and its state now or as of a time or a position", async () => {
      const r = await replay(["order", ids.returned, "--json"], env);
      expect(r.code, r.stderr).toBe(0);
      const body = json(r.stdout);
      const streams = new Set(body.events.map((e: { streamId: string }) => e.streamId.split("-")[0]));
      expect(streams).toEqual(new Set(["order", "payment", "inventory", "orderSaga"]));
      const types = body.events.map((e: { type: string }) => e.type);
      for (const t of [
        "OrderPlaced",
        "StockReserved",
        "PaymentCaptured",
        "OrderDelivered",
        "StockRestocked",
        "RefundProcessed",
        "OrderReturned",
        "SagaStepRecorded",
      ])
        expect(types).toContain(t);
      expect(body.state).toMatchObject({ orderId: ids.returned, status: "RETURNED", paymentStatus: "REFUNDED", refundedAmount: 20_000 });

      const delivered = body.events.find((e: { type: string }) => e.type === "OrderDelivered");
      const byPosition = json((await replay(["order", ids.returned, "--as-of", delivered.position, "--json"], env)).stdout);
      expect(byPosition.state.status).toBe("DELIVERED");
      expect(byPosition.events.at(-1).position).toBe(delivered.position);
      const byTime = json((await replay(["order", ids.returned, "--as-of", delivered.recordedAt, "--json"], env)).stdout);
      expect(byTime.state.status).toBe("DELIVERED");
      const before = json((await replay(["order", ids.returned, "--as-of", "2001-01-01", "--json"], env)).stdout);
      expect(before).toMatchObject({ events: [], state: null });

      const tty = await replayOnTerminal(["order", ids.cancelled], env);
      expect(tty.code).toBe(0);
      expect(tty.stdout).toContain("CANCELLED");
      expect(tty.stdout).toMatch(/┌─+/);
      const unknown = await replay(["order", "no-such-order"], env);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain("no such order");
    });
  });

  describe("read models", () => {
    it("verify finds a read model corrupted by raw SQL, and a rebuild mends it", async () => {
      const clean = await replay(["verify", "--json"], env);
      expect(clean.code, clean.stdout + clean.stderr).toBe(0);
      expect(json(clean.stdout)).toMatchObject({ equal: true, differences: [] });

      await db.query("UPDATE rm_orders SET status = 'SHIPPED' WHERE order_id = $1", [ids.cod]);
      const found = await replay(["verify", "orders", "--json"], env);
      expect(found.code).toBe(1);
      const report = json(found.stdout);
      expect(report.differences).toHaveLength(1);
      expect(report.differences[0]).toMatchObject({ projection: "projections/orders", table: "orders" });
      expect(report.differences[0].onlyLive[0]).toContain(`"status": "SHIPPED"`);
      expect(report.differences[0].onlyRebuilt[0]).toContain(`"status": "PROCESSING"`);
      const piped = await replay(["verify", "orders"], env);
      expect(piped.code).toBe(1);
      expect(piped.stdout).toContain("only in the live table");

      const rebuilt = await replay(["rebuild", "orders", "--json"], env);
      expect(rebuilt.code, rebuilt.stderr).toBe(0);
      expect(json(rebuilt.stdout).rebuilt[0]).toMatchObject({
        projection: "projections/orders",
        mode: "in place",
        events: expect.any(Number),
      });
      expect((await replay(["verify", "orders"], env)).code).toBe(0);
    });

    it("an in-place rebuild refuses while the server is connected, unless --force; --shadow runs beside it", async () => {
      const serverSession = new pg.Client({ connectionString: env.DATABASE_URL, application_name: "commerce" });
      await serverSession.connect();
      try {
        const refused = await replay(["rebuild", "payments"], env);
        expect(refused.code).toBe(2);
        expect(refused.stderr).toMatch(
          /refusing an in-place rebuild while the projector runs elsewhere .*use --shadow, stop the server, or --force/,
        );
        await db.query("UPDATE rm_payments SET status = 'FAILED'");
        const shadow = await replay(["rebuild", "payments", "--shadow", "--json"], env);
        expect(shadow.code, shadow.stderr).toBe(0);
        expect(json(shadow.stdout).rebuilt[0]).toMatchObject({ mode: "shadow" });
        expect((await replay(["verify", "payments"], env)).code).toBe(0);
        const forced = await replay(["rebuild", "--all", "--force"], env);
        expect(forced.code, forced.stderr).toBe(0);
        expect(forced.stdout.trim().split("\n")).toHaveLength(7);
      } finally {
        await serverSession.end();
      }
      expect((await replay(["verify"], env)).code).toBe(0);
    });
  });

  describe("finance", () => {
    it("reconcile: the report from the read model, checked against the log, as json, csv and table", async () => {
      const range = ["--from", "2000-01-01", "--to", "2100-01-01"];
      const r = await replay(["reconcile", ...range, "--json"], env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const body = json(r.stdout);
      expect(body.totals).toEqual({ captured: 30_000, refunded: 30_000, pendingRefunds: 0, failedRefunds: 0 });
      expect(body.refunds.map((x: { orderId: string }) => x.orderId).sort()).toEqual([ids.returned, ids.cancelled].sort());
      expect(body).toMatchObject({ mismatches: [], readModel: { behind: 0, differences: [] } });

      const csv = await replay(["reconcile", ...range, "--format", "csv"], env);
      expect(csv.stdout.split("\n")[0]).toBe("record,refundId,orderId,paymentId,amount,status,requestedAt,processedAt,kind,detail");
      expect(csv.stdout.trim().split("\n")).toHaveLength(3);
      const none = await replay(["reconcile", "--from", "2000-01-01", "--to", "2000-01-02", "--json"], env);
      expect(json(none.stdout)).toMatchObject({ totals: { captured: 0, refunded: 0 }, refunds: [] });

      // The read model disagrees with the log: found, exit 1.
      await db.query(
        "UPDATE rm_recon_refunds SET amount = amount + 1, refund = jsonb_set(refund, '{amount}', to_jsonb((refund->>'amount')::int + 1))",
      );
      const differs = await replay(["reconcile", ...range, "--json"], env);
      expect(differs.code).toBe(1);
      expect(json(differs.stdout).readModel.differences.map((d: { part: string }) => d.part)).toContain("totals.refunded");
      const table = await replayOnTerminal(["reconcile", ...range], env);
      expect(table.code).toBe(1);
      expect(table.stdout).toContain("read_model_differs");
      expect((await replay(["rebuild", "refunds"], env)).code).toBe(0);
      expect((await replay(["reconcile", ...range], env)).code).toBe(0);
    });

    it("reconcile --settlement: a report that matches the log exits 0", async () => {
      const r = await replay(["reconcile", "--settlement", csvFile("clean.csv", settlementCsv(settled)), "--json"], env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(json(r.stdout).counts).toEqual({
        matched: 4,
        missing_at_gateway: 0,
        missing_in_log: 0,
        amount_mismatch: 0,
        currency_mismatch: 0,
        duplicate_in_report: 0,
        duplicate_in_log: 0,
      });
    });

    it("reconcile --settlement reports each kind of mismatch, in json, csv and table", async () => {
      const [capture, ...rest] = settled;
      const refund = rest.find((x) => x.type === "REFUND")!;
      const other = rest.filter((x) => x !== refund);
      const rows: SettlementRow[] = [
        { ...capture!, amount: capture!.amount - 100 }, // amount_mismatch
        { ...refund, currency: "USD" }, // currency_mismatch
        { ...refund, currency: "USD" }, // duplicate_in_report
        { type: "CAPTURE", paymentId: "pay-nobody-knows", amount: 500, currency: "INR", settledAt: capture!.settledAt }, // missing_in_log
        ...other.slice(1), // the first of the others is missing_at_gateway
      ];
      const file = csvFile("mismatches.csv", settlementCsv(rows));
      const r = await replay(["reconcile", "--settlement", file, "--json"], env);
      expect(r.code).toBe(1);
      const body = json(r.stdout);
      expect(body.counts).toEqual({
        matched: other.length - 1,
        missing_at_gateway: 1,
        missing_in_log: 1,
        amount_mismatch: 1,
        currency_mismatch: 1,
        duplicate_in_report: 1,
        duplicate_in_log: 0,
      });
      const kinds = Object.fromEntries(body.items.map((i: { kind: string }) => [i.kind, i]));
      expect(kinds.amount_mismatch).toMatchObject({
        paymentId: capture!.paymentId,
        log: { amount: capture!.amount },
        gateway: { amount: capture!.amount - 100, line: 2 },
      });
      expect(kinds.currency_mismatch).toMatchObject({
        refundId: refund.refundId,
        log: { currency: "INR" },
        gateway: { currency: "USD", line: 3 },
      });
      expect(kinds.duplicate_in_report.detail).toContain("line 4 (first on line 3)");
      expect(kinds.missing_in_log).toMatchObject({ paymentId: "pay-nobody-knows", gateway: { line: 5 } });
      expect(kinds.missing_at_gateway).toMatchObject({ paymentId: other[0]!.paymentId, log: { amount: other[0]!.amount } });

      const csv = await replay(["reconcile", "--settlement", file, "--format", "csv"], env);
      expect(csv.code).toBe(1);
      expect(csv.stdout.split("\n")[0]).toBe(
        "kind,type,paymentId,refundId,logAmount,logCurrency,logPosition,gatewayAmount,gatewayCurrency,reportLine,detail",
      );
      const table = await replayOnTerminal(["reconcile", "--settlement", file], env);
      expect(table.code).toBe(1);
      for (const kind of ["missing_at_gateway", "missing_in_log", "amount_mismatch", "currency_mismatch", "duplicate_in_report"])
        expect(table.stdout).toContain(kind);

      // The same capture twice in the log (planted by raw SQL) is a duplicate on the log's side.
      await plant(`payment-${capture!.paymentId}`, "PaymentCaptured", {
        paymentId: capture!.paymentId,
        orderId: "x",
        gatewayEventId: "g-dup",
        amount: capture!.amount,
        currency: "INR",
        previousStatus: "CAPTURED",
      });
      const dup = await replay(["reconcile", "--settlement", csvFile("clean2.csv", settlementCsv(settled)), "--json"], env);
      expect(dup.code).toBe(1);
      expect(json(dup.stdout).counts.duplicate_in_log).toBe(1);
    });
  });

  describe("invariants over the whole log", () => {
    it("hold on what the app wrote, and a planted violation of each law is found, naming streams and positions", async () => {
      // The duplicate capture planted above is the first violation; check the laws name it.
      const { rows: payments } = await db.query<{ stream_id: string }>(
        "SELECT DISTINCT stream_id FROM es_events WHERE type = 'PaymentCaptured' AND metadata->>'actor' = 'test:planted'",
      );
      const twice = payments[0]!.stream_id;

      const orderStream = `order-${ids.cod}`;
      const { rows: stock } = await db.query<{ stream_id: string }>(
        "SELECT DISTINCT stream_id FROM es_events WHERE category = 'inventory' LIMIT 1",
      );
      const inventory = stock[0]!.stream_id;
      const [sku, warehouseId] = inventory.slice("inventory-".length).split("@");
      // Sell more than is available; reserve again for the cancelled order; refund more than was
      // captured; an order cancelled with no saga to finish it.
      await plant(inventory, "StockReserved", {
        sku,
        warehouseId,
        orderId: "o-greedy",
        quantity: 1_000,
        expiresAt: new Date().toISOString(),
      });
      await plant(inventory, "StockReserved", {
        sku,
        warehouseId,
        orderId: ids.cancelled,
        quantity: 1,
        expiresAt: new Date().toISOString(),
      });
      const paymentOfCod = `payment-${settled[0]!.paymentId}`;
      await plant(paymentOfCod, "RefundRequested", {
        paymentId: settled[0]!.paymentId,
        orderId: "x",
        refundId: "rf-too-much",
        amount: 1_000_000,
        currency: "INR",
        reason: "planted",
      });
      await plant("order-o-orphan", "OrderPlaced", {
        orderId: "o-orphan",
        customerId: "c",
        lines: [],
        subtotal: 0,
        discountAmount: 0,
        totalAmount: 0,
        currency: "INR",
        paymentMethod: "COD",
        paymentRequired: false,
        shippingAddress: {},
      });
      await plant("order-o-orphan", "OrderCancelled", {
        orderId: "o-orphan",
        reason: "CUSTOMER_REQUEST",
        previousStatus: "CREATED",
        refundDue: 0,
      });

      const r = await replay(["invariants", "--json"], env);
      expect(r.code, r.stderr).toBe(1);
      const body = json(r.stdout);
      expect(body.ok).toBe(false);
      const byKind = (kind: string) => body.violations.filter((v: { kind: string }) => v.kind === kind);
      expect(byKind("payment_captured_twice")[0]).toMatchObject({ streams: [twice], positions: [expect.any(String), expect.any(String)] });
      expect(byKind("stock_oversold")[0]).toMatchObject({ streams: [inventory] });
      expect(byKind("stock_oversold")[0].detail).toMatch(/available went to -\d+/);
      expect(byKind("refunds_exceed_capture")[0]).toMatchObject({ streams: [paymentOfCod] });
      expect(byKind("cancelled_order_stock_held")[0]).toMatchObject({ streams: [`order-${ids.cancelled}`, inventory] });
      expect(byKind("terminal_order_saga_unfinished")[0]).toMatchObject({ streams: ["order-o-orphan", "orderSaga-o-orphan"] });
      for (const v of body.violations) for (const p of v.positions) expect(p).toMatch(/^\d{20}:\d{20}$/);
      // Nothing else was flagged: the app's own events keep every law.
      expect(new Set(body.violations.map((v: { kind: string }) => v.kind))).toEqual(
        new Set([
          "payment_captured_twice",
          "stock_oversold",
          "refunds_exceed_capture",
          "cancelled_order_stock_held",
          "terminal_order_saga_unfinished",
        ]),
      );
      expect(orderStream).toBeTruthy();

      const tty = await replayOnTerminal(["invariants"], env);
      expect(tty.code).toBe(1);
      expect(tty.stdout).toContain("payment_captured_twice");
      expect(tty.stdout).toMatch(/┌─+/);
    });
  });
});
