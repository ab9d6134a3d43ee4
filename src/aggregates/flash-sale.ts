// FlashSale, as a decider. Stream: flashSale-<saleId>.
//
// The invariant this aggregate keeps after every event:
//
//   granted + unsold <= quantity
//
// where `granted` = units of recorded claims not expired or returned (held, or bought by an order)
// and `unsold` = units given back to ordinary stock when the sale ended: the sale never hands out
// more units than it set aside, and never gives back units someone holds.
//
// The sale's units are set aside from one Inventory (sku@warehouse) by one reservation
// (Inventory SetAsideForSale); the admission gate (src/flash-sales) decides claims in Redis or
// PostgreSQL at crowd speed, and this aggregate records its decisions in batches (ClaimsRecorded,
// ClaimsExpired) so the log says who got what. A batch that would break the invariant is refused
// by an exception: that can only be a broken gate, never a customer's doing.
//
//   SCHEDULED (stock not yet set aside) ──SaleStockSetAside──► OPEN ──SaleEnded──► ENDED
//            └──SaleStockRefused (business failure: the warehouse lacks the units)──► CANCELLED
//
// Whether the sale is "live" is a matter of time (startsAt <= now < endsAt), not of an event.
//
// Gate epochs: a Redis gate that lost its data is rebuilt from this stream. GateRebuilt starts a
// new epoch; grants the lost gate decided (an older epoch) that reach the log after it are not
// recorded, because the rebuilt gate did not count them and may sell those units again. The grant
// is then decided anew by the rebuilt gate. Appends to one stream are totally ordered, so every
// grant is either before GateRebuilt (and in the rebuild) or after it (and refused): no oversell,
// however many processes share the gate.

import { DomainError, type Decider, type DomainEvent } from "./decider.js";
import {
  isPositiveInteger,
  requireCurrency,
  requireInstant,
  requirePositiveAmount,
  requirePositiveQuantity,
  requireText,
  type Currency,
} from "./rules.js";

export const FLASH_SALE_CATEGORY = "flashSale";
export const streamId = (saleId: string): string => `${FLASH_SALE_CATEGORY}-${saleId}`;

/** A claim as the gate granted it. */
export interface ClaimGrant {
  claimId: string;
  customerId: string;
  quantity: number;
  claimedAt: string;
  expiresAt: string;
  /** The gate epoch that decided it (Redis gate); absent for a gate that cannot lose its data. */
  epoch?: number;
}

export interface SaleTerms {
  saleId: string;
  sku: string;
  warehouseId: string;
  quantity: number;
  /** Minor units per unit. */
  price: number;
  currency: Currency;
  startsAt: string;
  endsAt: string;
  perCustomerLimit: number;
  holdTtlMs: number;
}

// ---------------------------------------------------------------- commands

export type FlashSaleCommand =
  | ({ type: "ScheduleSale"; at: string } & Omit<SaleTerms, "currency"> & { currency?: Currency })
  | { type: "RecordStockSetAside"; saleId: string; at: string }
  | { type: "RecordStockRefused"; saleId: string; available: number; at: string }
  | { type: "RecordClaims"; saleId: string; claims: ClaimGrant[]; at: string }
  /** The gate lost the sale and is rebuilt from the log: grants of earlier epochs are no longer recorded. */
  | { type: "RebuildGate"; saleId: string; at: string }
  | { type: "ExpireClaims"; saleId: string; claimIds: string[]; at: string }
  /** An order placed with the claim was cancelled (or its payment failed) while the sale ran: its units went back to the pool. */
  | { type: "ReturnClaim"; saleId: string; claimId: string; orderId: string; reason: string; at: string }
  /** The sale is over: `unsold` units went back to ordinary stock. */
  | { type: "EndSale"; saleId: string; unsold: number; at: string };

// ---------------------------------------------------------------- events

export type SaleScheduled = DomainEvent<"SaleScheduled", SaleTerms & { at: string }>;
export type SaleStockSetAside = DomainEvent<
  "SaleStockSetAside",
  { saleId: string; sku: string; warehouseId: string; quantity: number; at: string }
>;
/** A business outcome, not an error: the warehouse did not hold the units. */
export type SaleStockRefused = DomainEvent<
  "SaleStockRefused",
  { saleId: string; quantity: number; available: number; reason: "OUT_OF_STOCK"; at: string }
>;
export type ClaimsRecorded = DomainEvent<"ClaimsRecorded", { saleId: string; claims: ClaimGrant[]; at: string }>;
export type ClaimsExpired = DomainEvent<
  "ClaimsExpired",
  { saleId: string; claims: { claimId: string; customerId: string; quantity: number }[]; at: string }
>;
export type ClaimReturned = DomainEvent<
  "ClaimReturned",
  { saleId: string; claimId: string; customerId: string; orderId: string; quantity: number; reason: string; at: string }
>;
export type SaleEnded = DomainEvent<"SaleEnded", { saleId: string; unsold: number; at: string }>;
export type GateRebuilt = DomainEvent<"GateRebuilt", { saleId: string; epoch: number; at: string }>;

export type FlashSaleEvent =
  | SaleScheduled
  | SaleStockSetAside
  | SaleStockRefused
  | ClaimsRecorded
  | ClaimsExpired
  | ClaimReturned
  | SaleEnded
  | GateRebuilt;

export const flashSaleSchemaVersions: Readonly<Record<FlashSaleEvent["type"], number>> = {
  SaleScheduled: 1,
  SaleStockSetAside: 1,
  SaleStockRefused: 1,
  ClaimsRecorded: 1,
  ClaimsExpired: 1,
  ClaimReturned: 1,
  SaleEnded: 1,
  GateRebuilt: 1,
};

// ---------------------------------------------------------------- state

export type SaleStatus = "SCHEDULED" | "OPEN" | "CANCELLED" | "ENDED";
export type ClaimStatus = "HELD" | "EXPIRED" | "RETURNED";

export interface RecordedClaim extends ClaimGrant {
  status: ClaimStatus;
  orderId?: string;
}

export interface FlashSale extends SaleTerms {
  status: SaleStatus;
  /** Units of granted claims not expired or returned. */
  granted: number;
  claims: ClaimBook;
  unsold?: number;
  /** The current gate epoch (0 until the gate is first rebuilt). */
  gateEpoch: number;
}

export type FlashSaleState = { status: "NONE" } | FlashSale;

/**
 * A sale's claims by id, persistent: recording a batch shares the claims recorded before instead
 * of copying them (a copy per batch made recording a sale quadratic: the claim load's profile had
 * 28% of the server in that copy). The claims sit in layers, newest last, a newer claim shadowing
 * an older one of the same id; the two newest merge while the newer is at least half the older,
 * so there are O(log n) layers to look through and each claim is copied O(log n) times in all.
 * No layer is changed once built, so every earlier state stays as it was.
 */
export class ClaimBook implements ReadonlyMap<string, RecordedClaim> {
  static readonly empty = new ClaimBook([], 0);

  private constructor(
    private readonly layers: readonly ReadonlyMap<string, RecordedClaim>[],
    readonly size: number,
  ) {}

  /** The book with these claims added or replaced. */
  with(changed: Iterable<RecordedClaim>): ClaimBook {
    const top = new Map<string, RecordedClaim>();
    let size = this.size;
    for (const c of changed) {
      if (!top.has(c.claimId) && !this.has(c.claimId)) size++;
      top.set(c.claimId, c);
    }
    const layers = [...this.layers, top];
    while (layers.length > 1 && 2 * layers[layers.length - 1]!.size >= layers[layers.length - 2]!.size) {
      const newer = layers.pop()!;
      const merged = new Map(layers.pop()!);
      for (const [id, c] of newer) merged.set(id, c);
      layers.push(merged);
    }
    return new ClaimBook(layers, size);
  }

  get(claimId: string): RecordedClaim | undefined {
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const c = this.layers[i]!.get(claimId);
      if (c) return c;
    }
    return undefined;
  }

  has(claimId: string): boolean {
    return this.get(claimId) !== undefined;
  }

  /** In the order the claims were first recorded, each with its latest state. */
  *entries(): MapIterator<[string, RecordedClaim]> {
    const seen = new Set<string>();
    for (const layer of this.layers) {
      for (const id of layer.keys()) {
        if (seen.has(id)) continue;
        seen.add(id);
        yield [id, this.get(id)!];
      }
    }
  }

  *keys(): MapIterator<string> {
    for (const [id] of this.entries()) yield id;
  }

  *values(): MapIterator<RecordedClaim> {
    for (const [, c] of this.entries()) yield c;
  }

  [Symbol.iterator](): MapIterator<[string, RecordedClaim]> {
    return this.entries();
  }

  forEach(callback: (value: RecordedClaim, key: string, map: ReadonlyMap<string, RecordedClaim>) => void, thisArg?: unknown): void {
    for (const [id, c] of this.entries()) callback.call(thisArg, c, id, this);
  }
}

export const initialFlashSaleState: FlashSaleState = { status: "NONE" };

/** True when the sale's law holds (tests, replay). */
export const saleLawHolds = (s: FlashSaleState): boolean =>
  s.status === "NONE" || (s.granted >= 0 && s.granted + (s.unsold ?? 0) <= s.quantity);

// ---------------------------------------------------------------- decide

function decide(command: FlashSaleCommand, state: FlashSaleState): FlashSaleEvent[] {
  const saleId = requireText(command.saleId, "saleId");
  const at = command.at;
  requireInstant(at, "at");

  if (command.type === "ScheduleSale") {
    const terms = validTerms(command);
    if (state.status !== "NONE") {
      if (sameTerms(state, terms)) return [];
      throw new DomainError("sale_exists", `sale ${saleId} already exists with other terms`, state.status);
    }
    return [{ type: "SaleScheduled", data: { ...terms, at } }];
  }
  if (state.status === "NONE") throw new DomainError("sale_not_found", `no sale ${saleId}`, "NONE");
  const s = state;

  switch (command.type) {
    case "RecordStockSetAside":
      if (s.status === "OPEN") return [];
      if (s.status !== "SCHEDULED")
        throw new DomainError("illegal_transition", `the stock of a ${s.status} sale cannot be set aside`, s.status);
      return [{ type: "SaleStockSetAside", data: { saleId, sku: s.sku, warehouseId: s.warehouseId, quantity: s.quantity, at } }];

    case "RecordStockRefused":
      if (s.status === "CANCELLED") return [];
      if (s.status !== "SCHEDULED") throw new DomainError("illegal_transition", `a ${s.status} sale's stock is already settled`, s.status);
      return [
        { type: "SaleStockRefused", data: { saleId, quantity: s.quantity, available: command.available, reason: "OUT_OF_STOCK", at } },
      ];

    case "RecordClaims": {
      if (s.status !== "OPEN" && s.status !== "ENDED")
        throw new DomainError("illegal_transition", `a ${s.status} sale has no claims`, s.status);
      // Grants of a lost gate's epoch are left out: the rebuilt gate did not count them.
      const fresh = command.claims.filter((c) => !s.claims.has(c.claimId) && (c.epoch ?? s.gateEpoch) >= s.gateEpoch);
      if (fresh.length === 0) return [];
      let units = 0;
      for (const c of fresh) {
        requireText(c.claimId, "claimId");
        requireText(c.customerId, "customerId");
        requirePositiveQuantity(c.quantity, "quantity");
        requireInstant(c.claimedAt, "claimedAt");
        requireInstant(c.expiresAt, "expiresAt");
        units += c.quantity;
      }
      // The gate's guarantee, checked again here: a breach is a fault, never a business outcome.
      if (s.granted + units + (s.unsold ?? 0) > s.quantity)
        throw new Error(`flash sale ${saleId}: recording ${units} more units would hand out more than the ${s.quantity} on offer`);
      return [
        {
          type: "ClaimsRecorded",
          data: {
            saleId,
            claims: fresh.map(({ claimId, customerId, quantity, claimedAt, expiresAt, epoch }) => ({
              claimId,
              customerId,
              quantity,
              claimedAt,
              expiresAt,
              ...(epoch === undefined ? {} : { epoch }),
            })),
            at,
          },
        },
      ];
    }

    case "RebuildGate":
      if (s.status !== "OPEN" && s.status !== "ENDED")
        throw new DomainError("illegal_transition", `a ${s.status} sale has no gate to rebuild`, s.status);
      return [{ type: "GateRebuilt", data: { saleId, epoch: s.gateEpoch + 1, at } }];

    case "ExpireClaims": {
      const atMs = Date.parse(at);
      const expiring = command.claimIds
        .map((id) => s.claims.get(id))
        .filter((c): c is RecordedClaim => c !== undefined && c.status === "HELD" && Date.parse(c.expiresAt) <= atMs);
      if (expiring.length === 0) return [];
      return [
        {
          type: "ClaimsExpired",
          data: { saleId, claims: expiring.map((c) => ({ claimId: c.claimId, customerId: c.customerId, quantity: c.quantity })), at },
        },
      ];
    }

    case "ReturnClaim": {
      const c = s.claims.get(command.claimId);
      if (!c) throw new DomainError("claim_not_found", `sale ${saleId} has no claim ${command.claimId}`, s.status);
      if (c.status === "RETURNED") return [];
      if (c.status !== "HELD") throw new DomainError("illegal_transition", `claim ${c.claimId} is ${c.status}`, s.status);
      return [
        {
          type: "ClaimReturned",
          data: {
            saleId,
            claimId: c.claimId,
            customerId: c.customerId,
            orderId: requireText(command.orderId, "orderId"),
            quantity: c.quantity,
            reason: requireText(command.reason, "reason"),
            at,
          },
        },
      ];
    }

    case "EndSale": {
      if (s.status === "ENDED") return [];
      if (s.status !== "OPEN") throw new DomainError("illegal_transition", `a ${s.status} sale cannot end`, s.status);
      if (Date.parse(at) < Date.parse(s.endsAt)) throw new DomainError("sale_not_over", `sale ${saleId} runs until ${s.endsAt}`, s.status);
      if (!Number.isSafeInteger(command.unsold) || command.unsold < 0)
        throw new DomainError("invalid_quantity", `unsold must be a non-negative integer, got ${String(command.unsold)}`, s.status);
      if (s.granted + command.unsold > s.quantity)
        throw new Error(`flash sale ${saleId}: ${command.unsold} unsold + ${s.granted} granted is more than the ${s.quantity} on offer`);
      return [{ type: "SaleEnded", data: { saleId, unsold: command.unsold, at } }];
    }
  }
}

function validTerms(c: Extract<FlashSaleCommand, { type: "ScheduleSale" }>): SaleTerms {
  const startsAt = requireInstant(c.startsAt, "startsAt");
  const endsAt = requireInstant(c.endsAt, "endsAt");
  if (endsAt <= startsAt) throw new DomainError("invalid_time", "endsAt must be after startsAt");
  const quantity = requirePositiveQuantity(c.quantity, "quantity");
  const perCustomerLimit = requirePositiveQuantity(c.perCustomerLimit, "perCustomerLimit");
  if (!isPositiveInteger(c.holdTtlMs)) throw new DomainError("invalid_field", "holdTtlMs must be a positive integer");
  return {
    saleId: c.saleId,
    sku: requireText(c.sku, "sku"),
    warehouseId: requireText(c.warehouseId, "warehouseId"),
    quantity,
    price: requirePositiveAmount(c.price, "price"),
    currency: requireCurrency(c.currency),
    startsAt: new Date(startsAt).toISOString(),
    endsAt: new Date(endsAt).toISOString(),
    perCustomerLimit,
    holdTtlMs: c.holdTtlMs,
  };
}

const TERM_KEYS: readonly (keyof SaleTerms)[] = [
  "saleId",
  "sku",
  "warehouseId",
  "quantity",
  "price",
  "currency",
  "startsAt",
  "endsAt",
  "perCustomerLimit",
  "holdTtlMs",
];
const sameTerms = (a: SaleTerms, b: SaleTerms): boolean => TERM_KEYS.every((k) => a[k] === b[k]);

/** The terms of a sale, without its state. */
const _termsOf = (s: FlashSale): SaleTerms => Object.fromEntries(TERM_KEYS.map((k) => [k, s[k]])) as unknown as SaleTerms;

// ---------------------------------------------------------------- evolve

function evolve(state: FlashSaleState, event: FlashSaleEvent): FlashSaleState {
  if (event.type === "SaleScheduled") {
    const { at: _at, ...terms } = event.data;
    return { ...terms, status: "SCHEDULED", granted: 0, claims: ClaimBook.empty, gateEpoch: 0 };
  }
  if (state.status === "NONE") return state;
  const s = state;
  switch (event.type) {
    case "SaleStockSetAside":
      return { ...s, status: "OPEN" };
    case "SaleStockRefused":
      return { ...s, status: "CANCELLED" };
    case "ClaimsRecorded": {
      let granted = s.granted;
      const recorded: RecordedClaim[] = [];
      for (const c of event.data.claims) {
        recorded.push({ ...c, status: "HELD" });
        granted += c.quantity;
      }
      return { ...s, claims: s.claims.with(recorded), granted };
    }
    case "ClaimsExpired": {
      let granted = s.granted;
      const expired: RecordedClaim[] = [];
      for (const c of event.data.claims) {
        const held = s.claims.get(c.claimId);
        if (held) expired.push({ ...held, status: "EXPIRED" });
        granted -= c.quantity;
      }
      return { ...s, claims: s.claims.with(expired), granted };
    }
    case "ClaimReturned": {
      const held = s.claims.get(event.data.claimId);
      const claims = held ? s.claims.with([{ ...held, status: "RETURNED", orderId: event.data.orderId }]) : s.claims;
      return { ...s, claims, granted: s.granted - event.data.quantity };
    }
    case "SaleEnded":
      return { ...s, status: "ENDED", unsold: event.data.unsold };
    case "GateRebuilt":
      return { ...s, gateEpoch: event.data.epoch };
  }
}

export const flashSaleDecider: Decider<FlashSaleCommand, FlashSaleEvent, FlashSaleState> = {
  category: FLASH_SALE_CATEGORY,
  schemaVersions: flashSaleSchemaVersions,
  initialState: initialFlashSaleState,
  decide,
  evolve,
};
