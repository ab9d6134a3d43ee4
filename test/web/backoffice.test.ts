// The back-office page in a real headless Chromium against the whole app: sign in, an order's
// timeline with the as-of slider, a reconciliation with its CSV, resuming a parked saga, a read
// model rebuilt to the end, a wrong role's 403, keyboard-only use, contrast and labels, and both
// widths (1280 and 390 px). Every view leaves a screenshot under .screenshots/backoffice/.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awaitOrder, awaitStatus, paymentEvent, placeOrder } from "../api/flow.js";
import { backends, createStorage, eventually, seedProduct, startApp, type Storage, type TestApp } from "../api/harness.js";
import { missing } from "../support/env.js";
import { chromiumBrowser, openBrowser, SCREENSHOTS, type Browser } from "./browser.js";

const backend = backends().at(-1)!; // PostgreSQL when configured: the page does not depend on the store

/** Waits (up to `timeout` ms) for what the page shows to match. */
const poll = <T>(read: () => Promise<T>, timeout = 15_000) => expect.poll(read, { timeout, interval: 100 });

describe.skipIf(missing(chromiumBrowser()))(`back-office page in Chromium (${backend})`, { timeout: 120_000 }, () => {
  let storage: Storage;
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  const foreign: string[] = [];
  const pageErrors: string[] = [];
  const tokens: Record<string, string> = {};
  let refundedOrder: string;
  let failedRefundOrder: string;
  let parkedOrder: string;

  const paid = async (customer: string) => {
    const placed = await placeOrder(app, customer, [{ sku: "WEB-1", quantity: 1 }]);
    const pending = await awaitStatus(app, customer, placed.orderId, "PAYMENT_PENDING");
    expect((await app.webhook(paymentEvent("payment.captured", pending.payment.paymentId, 25_000))).status).toBe(200);
    await awaitStatus(app, customer, placed.orderId, "PROCESSING");
    return { orderId: placed.orderId, paymentId: pending.payment.paymentId as string };
  };
  const cancel = async (customer: string, orderId: string) =>
    expect(
      (await app.request("POST", `/api/orders/${orderId}/cancel`, { token: customer, body: { reason: "changed my mind" } })).status,
    ).toBe(202);

  beforeAll(async () => {
    storage = await createStorage(backend);
    app = await startApp(
      storage,
      { PAYMENT_TIMEOUT_MS: "600000" },
      { sagaRetry: { maxAttempts: 2, baseDelayMs: 50, maxDelayMs: 100 }, schedulerPollMs: 50 },
    );
    await seedProduct(app, "WEB-1", 25_000, 100);
    for (const [role, sub] of [
      ["admin", "admin-1"],
      ["auditor", "aud-1"],
      ["finance", "fin-1"],
      ["ops", "ops-1"],
      ["customer", "c-web"],
    ] as const)
      tokens[role] = await app.token(role, sub);
    const customer = tokens.customer!;

    // Paid, cancelled, refunded: the timeline's order.
    refundedOrder = (await paid(customer)).orderId;
    await cancel(customer, refundedOrder);
    await awaitOrder(app, customer, refundedOrder, (o) => o.paymentStatus === "REFUNDED", "REFUNDED");

    // A refund the gateway reports failed: a mismatch in the reconciliation.
    app.built.gateway.refundsPending = true;
    const failing = await paid(customer);
    failedRefundOrder = failing.orderId;
    await cancel(customer, failedRefundOrder);
    const refund = await eventually(
      async () => {
        const p = await app.request("GET", `/api/payments/${failing.paymentId}`, { token: tokens.finance });
        return p.body?.refunds?.[0] as { refundId: string; amount: number } | undefined;
      },
      20_000,
      "the refund to be requested",
    );
    app.built.gateway.refundsPending = false;
    expect(
      (await app.webhook(await app.built.gateway.refundWebhookBody(failing.paymentId, refund.refundId, refund.amount, "failed"))).status,
    ).toBe(200);
    // The reconciliation page reads the refunds read model: it must have seen the failed refund
    // (under CI load it once had not, and the page showed no mismatch yet).
    expect(await app.built.projections.waitFor(await app.built.store.headCheckpoint(), 30_000)).toBe(true);

    // A saga the gateway keeps failing: parked, waiting for an operator.
    app.built.gateway.failRefunds = true;
    parkedOrder = (await paid(customer)).orderId;
    await cancel(customer, parkedOrder);
    await eventually(
      async () => {
        const a = await app.request("GET", "/api/ops/attention", { token: tokens.ops });
        return a.body?.items?.some((i: { orderId: string }) => i.orderId === parkedOrder);
      },
      20_000,
      "the saga to be parked",
    );

    browser = await openBrowser();
    page = browser.page;
    // The page must work offline: any request to another origin is refused and fails the test.
    await browser.context.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(app.url) || url.startsWith("blob:") || url.startsWith("data:")) return route.continue();
      foreign.push(url);
      return route.abort();
    });
    page.on("pageerror", (error) => pageErrors.push(error.message));
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await app?.built.close();
    await storage?.dispose();
    expect(foreign).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  const shot = async (name: string) => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-1280.png`), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    // Usable at 390 px: nothing but the tables' own scrolling areas is wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-390.png`), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  };

  /** Axe-like basics checked in the page: labels, accessible names, no positive tabindex, text contrast >= 4.5:1. */
  const accessibilityProblems = () =>
    page.evaluate(() => {
      const problems: string[] = [];
      const visible = (el: Element) => {
        const r = (el as HTMLElement).getBoundingClientRect();
        return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden";
      };
      for (const el of document.querySelectorAll("input, select, textarea")) {
        const c = el as HTMLInputElement;
        if (!visible(c)) continue;
        if (c.labels?.length === 0 && !c.getAttribute("aria-label")) problems.push(`unlabelled ${c.tagName} ${c.name}`);
      }
      for (const b of document.querySelectorAll("button, a[href]")) {
        if (!visible(b)) continue;
        if (!(b.getAttribute("aria-label") || b.textContent?.trim())) problems.push(`nameless ${b.tagName}`);
      }
      for (const el of document.querySelectorAll("[tabindex]"))
        if (Number(el.getAttribute("tabindex")) > 0) problems.push(`positive tabindex on ${el.tagName}`);
      const rgb = (s: string) => (s.match(/[\d.]+/g) ?? []).map(Number);
      const lum = ([r, g, b]: number[]) => {
        const f = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
        return 0.2126 * f(r!) + 0.7152 * f(g!) + 0.0722 * f(b!);
      };
      const background = (el: Element | null): number[] => {
        for (let e = el; e; e = e.parentElement) {
          const c = rgb(getComputedStyle(e).backgroundColor);
          if (c.length === 3 || (c.length === 4 && c[3]! > 0.5)) return c.slice(0, 3);
        }
        return [255, 255, 255];
      };
      for (const el of document.querySelectorAll("h1, h2, p, td, th, label, a, button, dt, dd, span, output, strong")) {
        if (!visible(el) || !Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent!.trim())) continue;
        if (parseFloat(getComputedStyle(el).opacity) < 1 || el.closest(".later")) continue; // events after the as-of point are dimmed on purpose
        const fg = lum(rgb(getComputedStyle(el).color).slice(0, 3));
        const bg = lum(background(el));
        const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
        if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)} on ${el.tagName} "${el.textContent!.trim().slice(0, 30)}"`);
      }
      return problems;
    });

  const signIn = async (role: string) => {
    await page.goto(`${app.url}/admin#/signin`);
    await page.getByLabel("Bearer token").fill(tokens[role]!);
    await page.getByRole("button", { name: "Sign in" }).click();
    await poll(() => page.locator("#who-text").textContent()).toContain(`(${role})`);
  };

  it("signs in with a bearer token typed into the box, and with the dev link's #token= (dropped from the address bar)", async () => {
    await page.goto(`${app.url}/admin`);
    await poll(() => page.locator("h1").textContent()).toBe("Sign in");
    expect(await accessibilityProblems()).toEqual([]);
    await shot("sign-in");
    await page.getByLabel("Bearer token").fill("not a token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await poll(() => page.getByRole("alert").textContent()).toContain("Not a token");

    await signIn("auditor");
    expect(await page.locator("h1").textContent()).toBe("Orders");
    await page.getByRole("button", { name: "Sign out" }).click();
    await poll(() => page.locator("h1").textContent()).toBe("Sign in");

    await page.goto(`${app.url}/admin#token=${tokens.admin}`);
    await poll(() => page.locator("#who-text").textContent()).toContain("admin-1 (admin)");
    expect(page.url()).not.toContain("token=");
  });

  it("lists orders by status, customer and date, and links to the timeline", async () => {
    await signIn("auditor");
    await page.getByLabel("Status").selectOption("CANCELLED");
    await page.getByLabel("Customer id").fill("c-web");
    await page.getByLabel("Placed from (UTC date)").fill(new Date(Date.now() - 86_400_000).toISOString().slice(0, 10));
    await page.getByRole("button", { name: "Filter" }).click();
    await poll(() => page.locator("tbody tr").count()).toBe(3);
    const statuses = await page.locator("tbody tr td:nth-child(3)").allTextContents();
    expect(new Set(statuses)).toEqual(new Set(["CANCELLED"]));
    expect(await accessibilityProblems()).toEqual([]);
    await shot("orders");
    await page.getByRole("link", { name: refundedOrder }).click();
    await poll(() => page.locator("h1").textContent()).toBe("Order timeline");
    expect(page.url()).toContain(`#/timeline/${refundedOrder}`);
  });

  it("shows an order that was paid, cancelled and refunded on one time axis, its events in order; the as-of slider shows the status at each event; a click shows the raw event", async () => {
    await signIn("auditor");
    await page.goto(`${app.url}/admin#/timeline/${refundedOrder}`);
    await poll(() => page.locator("tr[data-type]").count()).toBeGreaterThan(8);
    const types = await page.locator("tr[data-type]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-type")));
    const order = [
      "OrderPlaced",
      "StockReserved",
      "PaymentInitiated",
      "PaymentCaptured",
      "OrderConfirmed",
      "OrderCancelled",
      "RefundRequested",
      "RefundProcessed",
    ];
    const at = order.map((t) => types.indexOf(t));
    expect(
      at.every((i) => i >= 0),
      `${order} in ${types}`,
    ).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // Grouped by stream: one lane per stream, the order's, its payment's, its reservation's and its saga's.
    const lanes = await page.locator(".lane-label.mono").allTextContents();
    expect(lanes.some((l) => l.startsWith("order-"))).toBe(true);
    expect(lanes.some((l) => l.startsWith("payment-"))).toBe(true);
    expect(lanes.some((l) => l.startsWith("inventory-"))).toBe(true);
    expect(lanes.some((l) => /saga/i.test(l))).toBe(true);
    await poll(() => page.getByTestId("asof-status").textContent()).toBe("CANCELLED");
    // The last event is shown at first; it caused nothing, and the panel says only what there is.
    expect(
      await page.locator(".detail").evaluate((d) =>
        Array.from(d.childNodes)
          .filter((n) => n.nodeType === 3 && n.textContent?.trim())
          .map((n) => n.textContent),
      ),
    ).toEqual([]);

    // Keyboard on the slider: Home = after the first event (CREATED), then to the capture, then to the cancellation.
    const slider = page.getByLabel("Show the order as of event");
    await slider.focus();
    await page.keyboard.press("Home");
    await poll(() => page.getByTestId("asof-status").textContent()).toBe("CREATED");
    await shot("timeline-asof-created");
    // As of the capture the order still waits for the saga to confirm it; as of the cancellation it is cancelled.
    for (let i = 0; i < types.indexOf("PaymentCaptured"); i++) await page.keyboard.press("ArrowRight");
    await poll(() => page.getByTestId("asof-status").textContent()).toBe("PAYMENT_PENDING");
    expect(await page.locator("#asof-out").textContent()).toContain("PaymentCaptured");
    for (let i = types.indexOf("PaymentCaptured"); i < types.indexOf("OrderCancelled"); i++) await page.keyboard.press("ArrowRight");
    await poll(() => page.getByTestId("asof-status").textContent()).toBe("CANCELLED");
    expect(await page.locator("#asof-out").textContent()).toContain("OrderCancelled");

    // The raw event on click, with what caused it.
    await page.locator(`.ev[data-type="RefundProcessed"]`).click();
    await poll(() => page.getByTestId("raw-event").textContent()).toContain('"type": "RefundProcessed"');
    expect(await page.locator("#detail-h").textContent()).toContain("RefundProcessed");
    await page.locator(`.ev[data-type="OrderCancelled"]`).click();
    const caused = await page.locator(".detail p", { hasText: "Caused:" }).textContent();
    expect(caused).toContain("SagaStepRecorded"); // the cancellation caused the saga's step (refund)
    expect(await accessibilityProblems()).toEqual([]);
    await shot("timeline");
  });

  it("runs a refund reconciliation for a date range, highlights the mismatch and downloads the CSV", async () => {
    await signIn("finance");
    await page.getByRole("link", { name: "Refund reconciliation" }).click();
    await page.getByRole("button", { name: "Run reconciliation" }).click();
    await poll(() => page.locator("h2", { hasText: "Refunds (" }).textContent()).toMatch(/Refunds \([1-9]/);
    const mismatchRows = page.locator("tr.mismatch", { hasText: failedRefundOrder });
    expect(await mismatchRows.count()).toBeGreaterThanOrEqual(1);
    expect(await mismatchRows.first().textContent()).toContain("⚠");
    expect(await page.locator("tr", { hasText: refundedOrder }).first().getAttribute("class")).toBeNull();
    expect(await page.locator(".totals").textContent()).toContain("Refunded");
    expect(await accessibilityProblems()).toEqual([]);
    await shot("reconciliation");

    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Download CSV" }).click()]);
    expect(download.suggestedFilename()).toMatch(/^refund-reconciliation-\d{4}-\d{2}-\d{2}-to-\d{4}-\d{2}-\d{2}\.csv$/);
    const csv = readFileSync((await download.path())!, "utf8")
      .trim()
      .split(/\r\n/);
    expect(csv[0]).toBe("record,refundId,orderId,paymentId,amount,status,requestedAt,processedAt,mismatch,detail");
    expect(csv.find((l) => l.startsWith("refund,") && l.includes(refundedOrder))).toMatch(/,25000,PROCESSED,.*,no,$/);
    expect(csv.find((l) => l.startsWith("refund,") && l.includes(failedRefundOrder))).toMatch(/,FAILED,.*,yes,$/);
    expect(csv.some((l) => l.startsWith("mismatch,") && l.includes(failedRefundOrder))).toBe(true);
  });

  it("resumes a parked saga with the button once the gateway is fixed, shows the result, and the saga leaves the list", async () => {
    await signIn("ops");
    await page.getByRole("link", { name: "Needs attention" }).click();
    const row = page.locator(`tr[data-order-id="${parkedOrder}"]`);
    await poll(() => row.count()).toBe(1);
    expect(await row.textContent()).toContain("refund");
    expect(await accessibilityProblems()).toEqual([]);
    await shot("needs-attention");

    app.built.gateway.failRefunds = false;
    await row.getByRole("button", { name: `Resume the saga of order ${parkedOrder}` }).click();
    await poll(() => page.locator("#resume-result").textContent(), 25_000).toContain("no longer needs attention");
    expect(await row.count()).toBe(0);
    await shot("needs-attention-resumed");
    await awaitOrder(app, tokens.customer!, parkedOrder, (o) => o.paymentStatus === "REFUNDED", "REFUNDED after the resume");
  });

  it("rebuilds a read model with the button and shows the progress to the end", async () => {
    await signIn("admin");
    await page.getByRole("link", { name: "Read models" }).click();
    const row = page.locator('tr[data-name="orders"]');
    await poll(() => row.count()).toBe(1);
    expect(await page.locator("tbody tr").count()).toBeGreaterThanOrEqual(5);
    await row.getByRole("button", { name: "Rebuild orders" }).click();
    await poll(() => page.locator("#rebuild-result").textContent()).toContain("started (202)");
    await poll(() => row.locator(".rebuild-text").textContent(), 30_000).toContain("done at");
    expect(await row.locator("progress").getAttribute("value")).toBe("1");
    expect(await row.locator(".status").textContent()).not.toBe("rebuilding");
    expect(await accessibilityProblems()).toEqual([]);
    await shot("read-models");
  });

  it("shows a wrong role a 403 message in the page, not a blank screen", async () => {
    await signIn("finance");
    await page.goto(`${app.url}/admin#/attention`);
    const alert = page.getByRole("alert");
    await poll(() => alert.textContent()).toContain("403 Forbidden");
    expect(await alert.textContent()).toContain("You are signed in as fin-1 with the roles: finance");
    await shot("forbidden-attention");
    await page.goto(`${app.url}/admin#/timeline/${refundedOrder}`);
    await poll(() => page.getByRole("alert").textContent()).toContain("403 Forbidden");

    await signIn("ops");
    await page.getByRole("link", { name: "Read models" }).click();
    await page.getByRole("button", { name: "Rebuild orders" }).click();
    await poll(() => page.getByRole("alert").textContent()).toContain("403 Forbidden");
  });

  it("can be used with the keyboard alone: skip link, navigation, the timeline's events", async () => {
    await signIn("admin");
    await page.goto(`${app.url}/admin#/orders`);
    await page.reload(); // a fresh load: focus starts at the top of the document
    await poll(() => page.locator("h1").textContent()).toBe("Orders");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    // Tab to the "Order timeline" link and follow it with Enter: the new view's heading takes focus.
    for (let i = 0; i < 10 && (await page.evaluate(() => document.activeElement?.textContent)) !== "Order timeline"; i++)
      await page.keyboard.press("Tab");
    await page.keyboard.press("Enter");
    await poll(() => page.evaluate(() => `${document.activeElement?.tagName}:${document.activeElement?.textContent}`)).toBe(
      "H1:Order timeline",
    );
    await page.keyboard.press("Tab");
    await page.keyboard.type(refundedOrder);
    await page.keyboard.press("Enter");
    await poll(() => page.locator(".ev").count()).toBeGreaterThan(8);
    // The lanes are one tab stop; arrows walk the events and show each one.
    await page.locator(".ev[tabindex='0']").focus();
    const last = await page.locator("#detail-h").textContent();
    await page.keyboard.press("ArrowLeft");
    await poll(() => page.locator("#detail-h").textContent()).not.toBe(last);
    expect(await page.evaluate(() => document.activeElement?.getAttribute("aria-pressed"))).toBe("true");
    // Focus is visible: the focused control draws an outline.
    expect(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)).not.toBe("none");
  });
});
