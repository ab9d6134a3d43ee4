// FlashSale decider: given/when/then, and its law (granted + unsold <= quantity).

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ClaimBook,
  flashSaleDecider,
  saleLawHolds,
  type ClaimGrant,
  type FlashSale,
  type FlashSaleEvent,
  type RecordedClaim,
} from "../../src/aggregates/flash-sale.js";
import { specFor } from "./given-when-then.js";

const spec = specFor(flashSaleDecider);
const at = "2026-05-01T09:00:00.000Z";
const terms = {
  saleId: "s1",
  sku: "PHONE",
  warehouseId: "w1",
  quantity: 3,
  price: 999_00,
  startsAt: "2026-05-01T10:00:00.000Z",
  endsAt: "2026-05-01T10:10:00.000Z",
  perCustomerLimit: 2,
  holdTtlMs: 60_000,
};
const scheduled: FlashSaleEvent = { type: "SaleScheduled", data: { ...terms, currency: "INR", at } };
const setAside: FlashSaleEvent = { type: "SaleStockSetAside", data: { saleId: "s1", sku: "PHONE", warehouseId: "w1", quantity: 3, at } };
const grant = (claimId: string, customerId: string, quantity: number): ClaimGrant => ({
  claimId,
  customerId,
  quantity,
  claimedAt: "2026-05-01T10:00:01.000Z",
  expiresAt: "2026-05-01T10:01:01.000Z",
});
const recorded = (...claims: ClaimGrant[]): FlashSaleEvent => ({ type: "ClaimsRecorded", data: { saleId: "s1", claims, at } });

describe("FlashSale", () => {
  it("schedules a sale; the same terms again are a no-op, other terms a conflict, bad terms invalid", () => {
    spec
      .given([])
      .when({ type: "ScheduleSale", ...terms, at })
      .then([scheduled]);
    spec
      .given([scheduled])
      .when({ type: "ScheduleSale", ...terms, at })
      .thenNothing();
    spec
      .given([scheduled])
      .when({ type: "ScheduleSale", ...terms, quantity: 4, at })
      .thenThrows("sale_exists");
    spec
      .given([])
      .when({ type: "ScheduleSale", ...terms, endsAt: terms.startsAt, at })
      .thenThrows("invalid_time");
    spec
      .given([])
      .when({ type: "ScheduleSale", ...terms, quantity: 0, at })
      .thenThrows("invalid_quantity");
  });

  it("opens once its stock is set aside; a refusal of the stock is a business outcome that cancels it", () => {
    const { state } = spec.given([scheduled]).when({ type: "RecordStockSetAside", saleId: "s1", at }).then([setAside]);
    expect(state.status).toBe("OPEN");
    const refused = spec
      .given([scheduled])
      .when({ type: "RecordStockRefused", saleId: "s1", available: 1, at })
      .then([{ type: "SaleStockRefused", data: { saleId: "s1", quantity: 3, available: 1, reason: "OUT_OF_STOCK", at } }]);
    expect(refused.state.status).toBe("CANCELLED");
  });

  it("records claims in batches, skipping those already recorded, and refuses a batch that would hand out more than the quantity", () => {
    const { state } = spec
      .given([scheduled, setAside, recorded(grant("k1", "c1", 2))])
      .when({ type: "RecordClaims", saleId: "s1", claims: [grant("k1", "c1", 2), grant("k2", "c2", 1)], at })
      .then([recorded(grant("k2", "c2", 1))]);
    expect((state as FlashSale).granted).toBe(3);
    expect(() => flashSaleDecider.decide({ type: "RecordClaims", saleId: "s1", claims: [grant("k3", "c3", 1)], at }, state)).toThrow(
      /more than the 3 on offer/,
    );
  });

  it("a rebuilt gate starts a new epoch: grants the lost gate decided that reach the log after it are not recorded, later ones are", () => {
    const rebuilt: FlashSaleEvent = { type: "GateRebuilt", data: { saleId: "s1", epoch: 1, at } };
    spec
      .given([scheduled, setAside, recorded({ ...grant("k1", "c1", 1), epoch: 0 })])
      .when({ type: "RebuildGate", saleId: "s1", at })
      .then([rebuilt]);
    const { state } = spec
      .given([scheduled, setAside, recorded({ ...grant("k1", "c1", 1), epoch: 0 }), rebuilt])
      .when({
        type: "RecordClaims",
        saleId: "s1",
        claims: [
          { ...grant("k2", "c2", 2), epoch: 0 },
          { ...grant("k3", "c3", 2), epoch: 1 },
        ],
        at,
      })
      .then([recorded({ ...grant("k3", "c3", 2), epoch: 1 })]);
    expect((state as FlashSale).granted).toBe(3);
    expect([...(state as FlashSale).claims.keys()]).toEqual(["k1", "k3"]);
    spec
      .given([scheduled, setAside, rebuilt])
      .when({ type: "RecordClaims", saleId: "s1", claims: [{ ...grant("k2", "c2", 2), epoch: 0 }], at })
      .thenNothing();
    spec.given([scheduled]).when({ type: "RebuildGate", saleId: "s1", at }).thenThrows("illegal_transition");
  });

  it("expires only held claims whose hold has passed; returns a claim once; ends with the unsold units", () => {
    const past = [scheduled, setAside, recorded(grant("k1", "c1", 2), grant("k2", "c2", 1))];
    spec
      .given(past)
      .when({ type: "ExpireClaims", saleId: "s1", claimIds: ["k1"], at: "2026-05-01T10:01:00.999Z" })
      .thenNothing();
    const expired = spec
      .given(past)
      .when({ type: "ExpireClaims", saleId: "s1", claimIds: ["k1", "nope"], at: "2026-05-01T10:01:01.000Z" })
      .then([
        {
          type: "ClaimsExpired",
          data: { saleId: "s1", claims: [{ claimId: "k1", customerId: "c1", quantity: 2 }], at: "2026-05-01T10:01:01.000Z" },
        },
      ]);
    expect((expired.state as FlashSale).granted).toBe(1);
    const returned: FlashSaleEvent = {
      type: "ClaimReturned",
      data: { saleId: "s1", claimId: "k2", customerId: "c2", orderId: "o1", quantity: 1, reason: "PAYMENT_FAILED", at },
    };
    spec
      .given(past)
      .when({ type: "ReturnClaim", saleId: "s1", claimId: "k2", orderId: "o1", reason: "PAYMENT_FAILED", at })
      .then([returned]);
    spec
      .given([...past, returned])
      .when({ type: "ReturnClaim", saleId: "s1", claimId: "k2", orderId: "o1", reason: "PAYMENT_FAILED", at })
      .thenNothing();
    spec.given(past).when({ type: "EndSale", saleId: "s1", unsold: 0, at: "2026-05-01T10:09:59.000Z" }).thenThrows("sale_not_over");
    const ended = spec
      .given(past)
      .when({ type: "EndSale", saleId: "s1", unsold: 0, at: terms.endsAt })
      .then([{ type: "SaleEnded", data: { saleId: "s1", unsold: 0, at: terms.endsAt } }]);
    expect(saleLawHolds(ended.state)).toBe(true);
    expect(() => flashSaleDecider.decide({ type: "EndSale", saleId: "s1", unsold: 1, at: terms.endsAt }, spec.given(past).state)).toThrow(
      /more than the 3 on offer/,
    );
  });

  it("ClaimBook: after any sequence of batches it answers as a Map given the same sets, and every earlier book is unchanged", () => {
    const claim = (id: number, status: RecordedClaim["status"]): RecordedClaim => ({
      ...grant(`k${id}`, `c${id % 7}`, 1 + (id % 2)),
      status,
    });
    const batches = fc.array(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.constantFrom<RecordedClaim["status"]>("HELD", "EXPIRED", "RETURNED")), {
        maxLength: 40,
      }),
      { maxLength: 30 },
    );
    fc.assert(
      fc.property(batches, (steps) => {
        let book = ClaimBook.empty;
        let map = new Map<string, RecordedClaim>();
        const history: [ClaimBook, Map<string, RecordedClaim>][] = [[book, map]];
        for (const step of steps) {
          map = new Map(map);
          const batch = step.map(([id, status]) => claim(id, status));
          for (const c of batch) map.set(c.claimId, c);
          book = book.with(batch);
          history.push([book, map]);
        }
        for (const [b, m] of history) {
          expect(b.size).toBe(m.size);
          expect([...b.entries()]).toEqual([...m.entries()]);
          for (let id = 0; id <= 60; id++) expect(b.get(`k${id}`)).toBe(m.get(`k${id}`));
        }
      }),
    );
  });
});
