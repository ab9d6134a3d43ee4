// Catalog commands: products (admin), and the catalog price lookup every order and cart uses.

import { DomainError } from "../aggregates/decider.js";
import { productDecider, streamId as productStream, type Attributes, type Product, type ProductCommand } from "../aggregates/product.js";
import type { EventStore } from "../eventstore/port.js";
import { envelopeOf, nowIso, type CommandContext } from "./context.js";
import { handleCommand } from "./handle-command.js";
import { loadAggregate } from "./load.js";

export interface CreateProductInput {
  sku: string;
  name: string;
  description?: string;
  category: string[];
  brand?: string;
  price: number;
  currency?: string;
  attributes?: Attributes;
}

export async function createProduct(ctx: CommandContext, input: CreateProductInput) {
  const command: ProductCommand = { type: "CreateProduct", at: nowIso(ctx), ...input };
  return handleCommand(ctx.store, productDecider, { streamId: productStream(input.sku), command, ...envelopeOf(ctx) });
}

export interface UpdateProductInput {
  price?: number;
  name?: string;
  description?: string;
  category?: string[];
  brand?: string;
  attributes?: Attributes;
  active?: boolean;
}

/** One PATCH, up to three commands on the product's stream, each idempotent by its derived id. */
export async function updateProduct(ctx: CommandContext, sku: string, input: UpdateProductInput, expectedRevision?: number) {
  const at = nowIso(ctx);
  const base = { store: ctx.store, streamId: productStream(sku), actor: ctx.actor, correlationId: ctx.correlationId ?? ctx.commandId };
  const { state } = await loadAggregate(ctx.store, productDecider, productStream(sku));
  if (state.status === "NONE") throw new DomainError("product_not_found", `no product ${sku}`, "NONE");
  const commands: ProductCommand[] = [];
  const { price, active, ...details } = input;
  if (price !== undefined) commands.push({ type: "ChangeProductPrice", sku, price, at });
  if (Object.keys(details).length > 0) commands.push({ type: "ChangeProductDetails", sku, ...details, at });
  if (active === true && state.status === "INACTIVE") commands.push({ type: "ReactivateProduct", sku, at });
  if (active === false && state.status === "ACTIVE") commands.push({ type: "DeactivateProduct", sku, at });
  let last = null;
  let expected: number | undefined = expectedRevision;
  for (const [i, command] of commands.entries()) {
    last = await handleCommand(ctx.store, productDecider, { ...base, command, commandId: `${ctx.commandId}:${i}`, ...(expected === undefined ? {} : { expectedRevision: expected }) });
    if (expected !== undefined) expected = last.nextExpectedRevision;
  }
  const after = await loadAggregate(ctx.store, productDecider, productStream(sku));
  return { state: after.state as Product, revision: after.revision, position: last?.position ?? after.events.at(-1)?.position ?? null };
}

export async function getProductFromLog(store: EventStore, sku: string): Promise<{ product: Product; revision: number } | undefined> {
  const { state, revision } = await loadAggregate(store, productDecider, productStream(sku));
  return state.status === "NONE" ? undefined : { product: state, revision };
}

/** Catalog prices for the given SKUs, from the products' streams. Unknown or inactive SKUs: DomainError invalid_sku (422). */
export async function catalogPrices(store: EventStore, skus: readonly string[]): Promise<Map<string, { price: number; currency: string }>> {
  const found = await Promise.all(skus.map(async (sku) => [sku, await getProductFromLog(store, sku)] as const));
  const prices = new Map<string, { price: number; currency: string }>();
  for (const [sku, p] of found) {
    if (!p) throw new DomainError("invalid_sku", `unknown SKU ${sku}`);
    if (p.product.status !== "ACTIVE") throw new DomainError("invalid_sku", `SKU ${sku} is not for sale`);
    prices.set(sku, { price: p.product.price, currency: p.product.currency });
  }
  return prices;
}
