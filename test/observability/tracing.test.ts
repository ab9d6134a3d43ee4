// Traces, checked with the SDK's in-memory exporter: one order placed over HTTP and driven by the
// saga to PROCESSING is one trace. The HTTP request, the command it issued, the append, the saga's
// step and the commands the saga issued all carry the request's trace id, and so does every event
// of the order, its reservations and its saga (metadata.traceId), across the asynchronous hops,
// the payment gateway's webhook (a request in a trace of its own) included.

import { NodeTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-node";
import { trace } from "@opentelemetry/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorage, seedProduct, startApp, type Storage, type TestApp } from "../api/harness.js";
import { awaitStatus, paymentEvent, placeOrder } from "../api/flow.js";

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

describe("traces", () => {
  let storage: Storage;
  let app: TestApp;

  beforeAll(async () => {
    provider.register();
    storage = await createStorage("pglite");
    app = await startApp(storage);
  });

  afterAll(async () => {
    await app?.close();
    await storage?.dispose();
    await provider.shutdown();
    trace.disable();
  });

  it("follows one order from the HTTP request through the saga's steps as one trace", async () => {
    await seedProduct(app, "TRACE-1", 10_000, 5);
    const customer = await app.token("customer", "c-trace");
    exporter.reset();
    const { orderId } = await placeOrder(app, customer, [{ sku: "TRACE-1", quantity: 1 }], "COD");
    await awaitStatus(app, customer, orderId, "PROCESSING");

    const spans = exporter.getFinishedSpans();
    const placing = spans.find((s) => s.name.startsWith("command PlaceOrder") && s.attributes["command.stream"] === `order-${orderId}`);
    expect(placing, "the PlaceOrder command has a span").toBeDefined();
    const traceId = placing!.spanContext().traceId;

    // The HTTP request span is the command's ancestor, in the same trace.
    const request = spans.find((s) => s.spanContext().traceId === traceId && s.name === "request");
    expect(request, "the HTTP request has a span in the same trace").toBeDefined();
    expect(spans.some((s) => s.spanContext().traceId === traceId && s.name === "eventstore.appendToStream")).toBe(true);

    // Every event of the order, of its saga and of its reservations stores that trace id.
    const orderEvents = await app.built.store.readStream(`order-${orderId}`);
    const sagaEvents = await app.built.store.readStream(`orderSaga-${orderId}`);
    expect(orderEvents.map((e) => e.type)).toContain("OrderProcessingStarted");
    expect(sagaEvents.length).toBeGreaterThan(0);
    for (const e of [...orderEvents, ...sagaEvents]) expect(e.metadata.traceId, `${e.streamId}@${e.revision} ${e.type}`).toBe(traceId);
    const inventory = await app.built.store.readStream("inventory-TRACE-1@w-blr");
    const reservations = inventory.filter((e) => JSON.stringify(e.data).includes(orderId));
    expect(reservations.length).toBeGreaterThan(0);
    for (const e of reservations) expect(e.metadata.traceId, `${e.streamId}@${e.revision} ${e.type}`).toBe(traceId);

    // The saga's work on this order is in the trace: a span per step, and the appends that wrote
    // each step with its commands (one multi-stream append).
    const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
    const steps = inTrace.filter((s) => s.name.startsWith("saga step")).map((s) => s.name);
    expect(steps).toEqual(expect.arrayContaining(["saga step OrderPlaced", "saga step StockReserved"]));
    expect(inTrace.some((s) => s.name === "eventstore.appendToStreams")).toBe(true);
    // The batches the processors handled are spans of their own (a batch spans many orders' traces).
    expect(spans.some((s) => s.name.startsWith("process order-saga") && Number(s.attributes["processor.events"]) > 0)).toBe(true);
  });

  it("keeps a paid order in its trace across the payment gateway's webhook", async () => {
    await seedProduct(app, "TRACE-3", 10_000, 5);
    const customer = await app.token("customer", "c-trace-3");
    exporter.reset();
    const { orderId } = await placeOrder(app, customer, [{ sku: "TRACE-3", quantity: 1 }], "UPI");
    const pending = await awaitStatus(app, customer, orderId, "PAYMENT_PENDING");
    const paymentId = pending.payment.paymentId as string;
    expect((await app.webhook(paymentEvent("payment.captured", paymentId, 10_000))).status).toBe(200);
    await awaitStatus(app, customer, orderId, "PROCESSING");

    const spans = exporter.getFinishedSpans();
    const placing = spans.find((s) => s.name.startsWith("command PlaceOrder") && s.attributes["command.stream"] === `order-${orderId}`);
    const traceId = placing!.spanContext().traceId;

    // The webhook's request is a trace of the gateway's; the capture it records is handled in the
    // order's trace, linked back to that request.
    const webhook = spans.find((s) => s.name === "payment webhook payment.captured" && s.attributes["payment.id"] === paymentId);
    expect(webhook, "the webhook's capture has a span").toBeDefined();
    expect(webhook!.spanContext().traceId).toBe(traceId);
    const requestTrace = webhook!.links[0]?.context.traceId;
    expect(requestTrace, "linked to the webhook's request").toBeDefined();
    expect(requestTrace).not.toBe(traceId);
    expect(spans.some((s) => s.spanContext().traceId === requestTrace && s.name === "request")).toBe(true);

    // Every event of the order, its payment and its saga, the capture and what followed it, stores the order's trace.
    const streams = [`order-${orderId}`, `payment-${paymentId}`, `orderSaga-${orderId}`];
    const events = (await Promise.all(streams.map((id) => app.built.store.readStream(id)))).flat();
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(["PaymentInitiated", "PaymentCaptured", "OrderProcessingStarted"]));
    for (const e of events) expect(e.metadata.traceId, `${e.streamId}@${e.revision} ${e.type}`).toBe(traceId);
    const steps = spans.filter((s) => s.spanContext().traceId === traceId && s.name.startsWith("saga step")).map((s) => s.name);
    expect(steps).toEqual(expect.arrayContaining(["saga step PaymentInitiated", "saga step PaymentCaptured"]));
  });

  it("starts a fresh trace for each request", async () => {
    const customer = await app.token("customer", "c-trace-2");
    await seedProduct(app, "TRACE-2", 10_000, 5);
    exporter.reset();
    const first = await placeOrder(app, customer, [{ sku: "TRACE-2", quantity: 1 }], "COD");
    const second = await placeOrder(app, customer, [{ sku: "TRACE-2", quantity: 1 }], "COD");
    const [a, b] = await Promise.all([first, second].map((o) => app.built.store.readStream(`order-${o.orderId}`)));
    expect(a![0]!.metadata.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(b![0]!.metadata.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(a![0]!.metadata.traceId).not.toBe(b![0]!.metadata.traceId);
  });
});
