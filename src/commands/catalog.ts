// Catalog commands: products (admin), and the catalog price lookup every order and cart uses.

import { DomainError } from "../aggregates/decider.js";
import {
  productDecider,
  streamId as productStream,
  type Attributes,
  type Product,
  type ProductCommand,
  type ProductState,
} from "../aggregates/product.js";
import { WrongExpectedVersionError } from "../eventstore/errors.js";
import type { EventStore } from "../eventstore/port.js";
import { decideBatch, loadedFrom } from "./command-batch.js";
import { nowIso, type CommandContext } from "./context.js";
import { envelope, metadataOf } from "./envelope.js";
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
  return handleCommand(ctx.store, productDecider, envelope(ctx, productStream(input.sku), command));
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

/**
 * One PATCH: up to three commands on the product's stream (price, details, active), decided together
 * from one read and written in one append, so a PATCH applies entirely or not at all. Without
 * If-Match a concurrent write makes it read and decide again; with If-Match it answers 412.
 * Command ids derive from the request's, so a retried PATCH appends nothing twice.
 */
export async function updateProduct(ctx: CommandContext, sku: string, input: UpdateProductInput, expectedRevision?: number) {
  const at = nowIso(ctx);
  const streamId = productStream(sku);
  const metadata = metadataOf(ctx);
  for (let attempt = 1; ; attempt++) {
    const stream = loadedFrom(productDecider, await ctx.store.readStream(streamId));
    const state = stream.state as ProductState;
    if (state.status === "NONE") throw new DomainError("product_not_found", `no product ${sku}`, "NONE");
    if (expectedRevision !== undefined && stream.revision !== expectedRevision)
      throw new WrongExpectedVersionError(streamId, expectedRevision, stream.revision);
    const commands: ProductCommand[] = [];
    const { price, active, ...details } = input;
    if (price !== undefined) commands.push({ type: "ChangeProductPrice", sku, price, at });
    if (Object.keys(details).length > 0) commands.push({ type: "ChangeProductDetails", sku, ...details, at });
    if (active === true && state.status === "INACTIVE") commands.push({ type: "ReactivateProduct", sku, at });
    if (active === false && state.status === "ACTIVE") commands.push({ type: "DeactivateProduct", sku, at });
    const batch = commands.map((command, i) => ({ decider: productDecider, streamId, command, commandId: `${ctx.commandId}:${i}` }));
    const [append] = decideBatch(batch, new Map([[streamId, stream]]), metadata).appends;
    let position: string | null = null;
    if (append) {
      try {
        position = (await ctx.store.appendToStream(streamId, append.events, { expectedRevision: append.expectedRevision })).position;
      } catch (error) {
        if (error instanceof WrongExpectedVersionError && expectedRevision === undefined && attempt < 8) continue;
        throw error;
      }
    }
    const after = await loadAggregate(ctx.store, productDecider, streamId);
    return { state: after.state as Product, revision: after.revision, position: position ?? after.events.at(-1)?.position ?? null };
  }
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
