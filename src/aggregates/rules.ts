// The input rules every aggregate applies to its commands: money in integer minor units,
// positive integer quantities, non-empty names and ISO-8601 instants.
//
// Rule names that start with "invalid_" mean the command itself is malformed (HTTP 400/422);
// every other rule name means the command conflicts with the aggregate's current state (HTTP 409).

import { DomainError } from "./decider.js";

/** ISO 4217 currency code. Money is always `amount` in minor units (paise for INR) plus a currency. */
export type Currency = string;
export const DEFAULT_CURRENCY: Currency = "INR";

/** The ways a customer can pay for an order. */
export const PAYMENT_METHODS = ["UPI", "CARD", "NETBANKING", "WALLET", "COD"] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

export const isPositiveInteger = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value > 0;

export const isMinorUnits = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 0;

export function requirePositiveQuantity(value: unknown, field: string, status?: string): number {
  if (!isPositiveInteger(value))
    throw new DomainError("invalid_quantity", `${field} must be a positive integer, got ${String(value)}`, status);
  return value;
}

/** A money amount strictly above zero, in minor units. */
export function requirePositiveAmount(value: unknown, field: string, status?: string): number {
  if (!isPositiveInteger(value))
    throw new DomainError("invalid_amount", `${field} must be a positive integer number of minor units, got ${String(value)}`, status);
  return value;
}

export function requireCurrency(value: unknown, status?: string): Currency {
  if (value === undefined) return DEFAULT_CURRENCY;
  if (typeof value !== "string" || !/^[A-Z]{3}$/.test(value))
    throw new DomainError("invalid_currency", `currency must be an ISO 4217 code such as "INR", got ${String(value)}`, status);
  return value;
}

export function requireText(value: unknown, field: string, status?: string): string {
  if (typeof value !== "string" || value.trim() === "")
    throw new DomainError("invalid_field", `${field} must be a non-empty string`, status);
  return value;
}

/** An ISO-8601 instant; returns its epoch milliseconds for comparisons. */
export function requireInstant(value: unknown, field: string, status?: string): number {
  const ms = typeof value === "string" ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new DomainError("invalid_time", `${field} must be an ISO-8601 time, got ${String(value)}`, status);
  return ms;
}

export function requirePaymentMethod(value: unknown, status?: string): PaymentMethod {
  if (!PAYMENT_METHODS.includes(value as PaymentMethod))
    throw new DomainError(
      "invalid_payment_method",
      `paymentMethod must be one of ${PAYMENT_METHODS.join(", ")}, got ${String(value)}`,
      status,
    );
  return value as PaymentMethod;
}

/** The same rule for every aggregate: a command that is not allowed in the current status. */
export const illegalTransition = (command: string, status: string): DomainError =>
  new DomainError("illegal_transition", `${command} is not allowed when the status is ${status}`, status);

/** Throws when two entries share a key (e.g. the same SKU twice in one order). */
export function requireDistinct<T>(items: readonly T[], key: (item: T) => string, field: string, status?: string): void {
  const seen = new Set<string>();
  for (const item of items) {
    const k = key(item);
    if (seen.has(k)) throw new DomainError("invalid_duplicate", `${field} lists "${k}" more than once`, status);
    seen.add(k);
  }
}
