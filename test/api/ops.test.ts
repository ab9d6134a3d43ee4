// Operator routes over real HTTP with the whole app: role checks, parked sagas (a gateway that
// keeps refusing refunds; a saga handler that keeps failing on the database) listed and resumed,
// a projector's parked event listed, and a shadow rebuild whose progress the GET shows to the end.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awaitOrder, awaitStatus, paymentEvent, placeOrder } from "./flow.js";
import { backends, createStorage, eventually, seedProduct, startApp, type Storage, type TestApp } from "./harness.js";

describe.each(backends())("operator routes (%s)", (backend) => {
  let storage: Storage;
  let app: TestApp;
  let admin: string;
  let ops: string;
  let customer: string;

  beforeAll(async () => {
    storage = await createStorage(backend);
    // Gateway steps: two attempts 50 ms apart, then parked (minutes in production).
    app = await startApp(
      storage,
      { PAYMENT_TIMEOUT_MS: "600000" },
      { sagaRetry: { maxAttempts: 2, baseDelayMs: 50, maxDelayMs: 100 }, schedulerPollMs: 50 },
    );
    await seedProduct(app, "OPS-1", 10_000, 100);
    admin = await app.token("admin", "admin-1");
    ops = await app.token("ops", "ops-1");
    customer = await app.token("customer", "c-ops");
  });
  afterAll(async () => {
    await app?.built.close();
    await storage?.dispose();
  });

  const paidOrder = async () => {
    const placed = await placeOrder(app, customer, [{ sku: "OPS-1", quantity: 1 }]);
    const pending = await awaitStatus(app, customer, placed.orderId, "PAYMENT_PENDING");
    expect((await app.webhook(paymentEvent("payment.captured", pending.payment.paymentId, 10_000))).status).toBe(200);
    await awaitStatus(app, customer, placed.orderId, "PROCESSING");
    return placed.orderId;
  };
  /** Resume requests in the log: a refused resume writes none. */
  const resumeRequests = async () =>
    (await app.built.store.readAll({ filter: { eventTypes: ["SagaResumeRequested"] }, maxCount: 10_000 })).events.length;
  const attention = async () => {
    const res = await app.request("GET", "/api/ops/attention", { token: ops });
    expect(res.status).toBe(200);
    return res.body.items as {
      kind: string;
      orderId: string | null;
      processor: string;
      error: string;
      attempts: number;
      since: string;
      resumable: boolean;
      eventType?: string;
    }[];
  };

  it("answers 401 without a token and 403 problem+json to a wrong role, on every route", async () => {
    const finance = await app.token("finance", "fin-1");
    const analyst = await app.token("analyst", "an-1");
    const cases: [string, string, string | undefined, number][] = [
      ["GET", "/api/ops/attention", undefined, 401],
      ["GET", "/api/ops/attention", customer, 403],
      ["GET", "/api/ops/attention", finance, 403],
      ["POST", "/api/ops/attention/o-1/resume", undefined, 401],
      ["POST", "/api/ops/attention/o-1/resume", finance, 403],
      ["GET", "/api/ops/projections", undefined, 401],
      ["GET", "/api/ops/attention", analyst, 403],
      ["GET", "/api/ops/projections", customer, 403],
      ["POST", "/api/ops/projections/orders/rebuild", analyst, 403],
      ["POST", "/api/ops/projections/orders/rebuild", undefined, 401],
      ["POST", "/api/ops/projections/orders/rebuild", ops, 403],
    ];
    for (const [method, path, token, status] of cases) {
      const res = await app.request(method, path, { ...(token ? { token } : {}), ...(method === "POST" ? { body: {} } : {}) });
      expect({ method, path, status: res.status }).toEqual({ method, path, status });
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(res.body).toMatchObject({ status, title: status === 401 ? "Unauthorized" : "Forbidden" });
    }
    // An analyst reads the read models' status (and nothing else here).
    expect((await app.request("GET", "/api/ops/projections", { token: analyst })).status).toBe(200);
  });

  it("lists a saga whose refund the gateway keeps refusing, keeps it while the cause lasts, and lets it go once resumed after the fix", async () => {
    expect(await attention()).toEqual([]);
    const orderId = await paidOrder();
    app.built.gateway.failRefunds = true;
    try {
      expect(
        (await app.request("POST", `/api/orders/${orderId}/cancel`, { token: customer, body: { reason: "changed my mind" } })).status,
      ).toBe(202);
      const parked = await eventually(async () => (await attention()).find((i) => i.orderId === orderId), 20_000, "the saga to be parked");
      expect(parked).toMatchObject({ kind: "gateway", orderId, processor: "order-saga", attempts: 2, resumable: true });
      expect(parked.error).toMatch(/refund .* failed/);
      expect(Date.parse(parked.since)).not.toBeNaN();

      // Resumed while the gateway still refuses: accepted, tried again (with its retries), parked again.
      const early = await app.request("POST", `/api/ops/attention/${orderId}/resume`, { token: ops, body: {} });
      expect(early.status).toBe(202);
      await eventually(
        async () => {
          const saga = await app.built.store.readStream(`orderSaga-${orderId}`);
          return saga.filter((e) => e.type === "SagaCommandFailed" && (e.data as { parked?: boolean }).parked).length >= 2;
        },
        20_000,
        "the resumed attempts to fail and park again",
      );
      await eventually(async () => (await attention()).filter((i) => i.orderId === orderId).length === 1, 10_000, "the saga listed again");
    } finally {
      app.built.gateway.failRefunds = false;
    }

    const resumed = await app.request("POST", `/api/ops/attention/${orderId}/resume`, { token: ops, body: {} });
    expect(resumed.status).toBe(202);
    expect(resumed.body).toEqual({ orderId, retriedEvents: 0, gatewaySteps: 1, requestedBy: "ops:ops-1" });
    await eventually(async () => !(await attention()).some((i) => i.orderId === orderId), 20_000, "the saga to leave the list");
    const order = await awaitOrder(app, customer, orderId, (o) => o.paymentStatus === "REFUNDED", "REFUNDED");
    expect(order).toMatchObject({ status: "CANCELLED", refundedAmount: 10_000 });

    // Nothing left to resume: 404, and nothing is appended to the saga's inbox.
    const before = await resumeRequests();
    const again = await app.request("POST", `/api/ops/attention/${orderId}/resume`, { token: ops, body: {} });
    expect(again.status).toBe(404);
    expect(again.headers.get("content-type")).toContain("application/problem+json");
    expect(await resumeRequests()).toBe(before);
  });

  it("rejects a malformed order id with 400 naming the field, writing nothing", async () => {
    const before = await resumeRequests();
    const res = await app.request("POST", `/api/ops/attention/${encodeURIComponent("bad id!")}/resume`, { token: ops, body: {} });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ field: "orderId", in: "params" });
    expect(await resumeRequests()).toBe(before);
  });

  it("lists an order event the saga processor parked (its handler kept failing on the database), and a resume after the fix runs it and lets it go", async () => {
    // The fault: every new deadline insert fails, as a full disk or a broken table would.
    await app.built.sql.exec(`
      CREATE OR REPLACE FUNCTION ops_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'deadline table refused (test fault)'; END $$;
      CREATE TRIGGER ops_test_refuse BEFORE INSERT ON scheduled_deadlines FOR EACH ROW EXECUTE FUNCTION ops_test_refuse();
    `);
    let orderId: string;
    try {
      orderId = (await placeOrder(app, customer, [{ sku: "OPS-1", quantity: 1 }])).orderId;
      const parked = await eventually(
        async () => (await attention()).find((i) => i.orderId === orderId),
        30_000,
        "the saga event to be parked",
      );
      expect(parked).toMatchObject({ kind: "event", orderId, resumable: true });
      expect(parked.processor).toMatch(/^order-saga/);
      expect(parked.error).toContain("deadline table refused");
      expect(parked.attempts).toBeGreaterThanOrEqual(2);

      // Still broken: the retry fails, 409, and the item stays.
      const stillFailing = await app.request("POST", `/api/ops/attention/${orderId}/resume`, { token: ops, body: {} });
      expect(stillFailing.status).toBe(409);
      expect(stillFailing.body).toMatchObject({ stillFailing: true });
      expect((await attention()).some((i) => i.orderId === orderId)).toBe(true);
    } finally {
      await app.built.sql.exec(`DROP TRIGGER IF EXISTS ops_test_refuse ON scheduled_deadlines; DROP FUNCTION IF EXISTS ops_test_refuse();`);
    }
    // Each parked event of the order (one per saga processor that parked it) runs again.
    const waiting = (await attention()).filter((i) => i.orderId === orderId && i.kind === "event");
    expect(waiting.length).toBeGreaterThanOrEqual(1);
    const resumed = await app.request("POST", `/api/ops/attention/${orderId}/resume`, { token: admin, body: {} });
    expect(resumed.status).toBe(202);
    expect(resumed.body).toMatchObject({ orderId, retriedEvents: waiting.length, requestedBy: "admin:admin-1" });
    expect((await attention()).some((i) => i.orderId === orderId)).toBe(false);
    await awaitStatus(app, customer, orderId, "PAYMENT_PENDING");
  });

  it("shows every read model with checkpoint, lag and status, and a shadow rebuild's progress until it is done, the model intact", async () => {
    const analystOrOps = ops;
    const list = await app.request("GET", "/api/ops/projections", { token: analystOrOps });
    expect(list.status).toBe(200);
    const names = list.body.projections.map((p: { name: string }) => p.name);
    expect(names).toEqual(expect.arrayContaining(["orders", "payments", "inventory", "products", "carts", "search"]));
    for (const p of list.body.projections) {
      const kind = p.name === "search" ? "search" : p.name === "redis" ? "redis" : "sql";
      expect(p).toMatchObject({ processor: `projections/${p.name}`, kind, checkpoint: expect.any(String), lagCapped: false });
      expect(p.lagEvents).toBeGreaterThanOrEqual(0);
      expect(p.lagSeconds).toBeGreaterThanOrEqual(0);
      if (p.lagEvents === 0) expect(p.lagSeconds).toBe(0);
      expect(["live", "catching-up"]).toContain(p.status);
    }

    const ordersBefore = await app.request("GET", "/api/orders?size=100", { token: admin });
    expect(ordersBefore.body.total).toBeGreaterThan(0);

    const started = await app.request("POST", "/api/ops/projections/orders/rebuild", { token: admin, body: {} });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ name: "orders", rebuild: { startedAt: expect.any(String) } });
    expect(["running", "done"]).toContain(started.body.rebuild.state);

    const seen: number[] = [];
    const done = await eventually(
      async () => {
        const res = await app.request("GET", "/api/ops/projections", { token: ops });
        const orders = res.body.projections.find((p: { name: string }) => p.name === "orders");
        seen.push(orders.rebuild.progress);
        return orders.rebuild.state === "done" ? orders : undefined;
      },
      30_000,
      "the rebuild to finish",
    );
    expect(done.rebuild).toMatchObject({ state: "done", progress: 1, finishedAt: expect.any(String) });
    expect(done.rebuild.replayed).toBeGreaterThan(0);
    expect(done.rebuild.total).toBe(done.rebuild.replayed); // at the end the total is what was replayed
    expect(["live", "catching-up"]).toContain(done.status);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen); // progress never goes back

    const ordersAfter = await app.request("GET", "/api/orders?size=100", { token: admin });
    expect(ordersAfter.body).toEqual(ordersBefore.body);
  });

  it("rebuilds search from its route like the SQL read models, and search answers the same after", async () => {
    const searchFor = () => app.request("GET", "/api/search/products?sort=price_asc", { token: customer });
    const before = await searchFor();
    expect(before.status).toBe(200);
    expect(before.body.hits.map((h: { sku: string }) => h.sku)).toContain("OPS-1");
    const started = await app.request("POST", "/api/ops/projections/search/rebuild", { token: admin, body: {} });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ name: "search", kind: "search", rebuild: { startedAt: expect.any(String) } });
    const done = await eventually(
      async () => {
        const res = await app.request("GET", "/api/ops/projections", { token: ops });
        const search = res.body.projections.find((p: { name: string }) => p.name === "search");
        return search.rebuild.state === "done" ? search : undefined;
      },
      30_000,
      "the search rebuild to finish",
    );
    expect(done.rebuild).toMatchObject({ state: "done", progress: 1 });
    expect(done.rebuild.replayed).toBeGreaterThan(0);
    expect((await searchFor()).body.hits).toEqual(before.body.hits);
  });

  it("answers 404 for an unknown read model and 400 for a malformed name", async () => {
    const unknown = await app.request("POST", "/api/ops/projections/nope/rebuild", { token: admin, body: {} });
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toContain("orders");
    const bad = await app.request("POST", "/api/ops/projections/Bad%20Name/rebuild", { token: admin, body: {} });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ field: "name" });
  });

  it("lists an event a projector parked, with the order it belongs to, as not resumable from here", async () => {
    await app.built.sql.exec(`
      CREATE OR REPLACE FUNCTION ops_test_refuse_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'read model refused (test fault)'; END $$;
      CREATE TRIGGER ops_test_refuse_row BEFORE INSERT ON rm_orders FOR EACH ROW EXECUTE FUNCTION ops_test_refuse_row();
    `);
    try {
      const { orderId } = await placeOrder(app, customer, [{ sku: "OPS-1", quantity: 1 }]);
      const parked = await eventually(
        async () => (await attention()).find((i) => i.kind === "processor" && i.orderId === orderId),
        30_000,
        "the projector to park the event",
      );
      expect(parked).toMatchObject({ processor: "projections/orders", eventType: "OrderPlaced", resumable: false });
      expect(parked.error).toContain("read model refused");
      const models = await app.request("GET", "/api/ops/projections", { token: ops });
      expect(models.body.projections.find((p: { name: string }) => p.name === "orders").parked).toBeGreaterThanOrEqual(1);
    } finally {
      await app.built.sql.exec(`DROP TRIGGER IF EXISTS ops_test_refuse_row ON rm_orders; DROP FUNCTION IF EXISTS ops_test_refuse_row();`);
    }
  });

  it("documents every operator route with its success and problem responses in the OpenAPI document", async () => {
    const doc = (await app.request("GET", "/docs/json")).body;
    const expectations: [string, string, string][] = [
      ["/api/ops/attention", "get", "200"],
      ["/api/ops/attention/{orderId}/resume", "post", "202"],
      ["/api/ops/projections", "get", "200"],
      ["/api/ops/projections/{name}/rebuild", "post", "202"],
    ];
    for (const [path, method, ok] of expectations) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method} ${path}`).toBeDefined();
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining([ok, "401", "403"]));
    }
    expect(doc.paths["/admin"]?.get).toBeDefined();
  });

  it("serves the back-office page and its assets from the same server, with a same-origin content security policy", async () => {
    const page = await fetch(`${app.url}/admin`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    const html = await page.text();
    expect(html).toContain('src="/admin/assets/admin.js"');
    expect(html).not.toMatch(/https?:\/\//); // nothing from another origin: works offline
    for (const [path, type] of [
      ["/admin/assets/admin.js", "text/javascript"],
      ["/admin/assets/admin.css", "text/css"],
    ]) {
      const res = await fetch(`${app.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain(type);
      expect(await res.text()).not.toMatch(/(src|href)=["']https?:|@import|cdn\./i);
    }
  });
});
