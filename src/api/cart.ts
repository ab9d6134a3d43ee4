// The customer's cart (stream cart-<customerId>): commands fold the stream; every answer is read
// from the carts read model (a write's answer once the model holds that write).

import { Type, type Static } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { addCartItem, applyCartCoupon, changeCartItem, checkOutCart, loadCart, removeCartItem } from "../commands/cart.js";
import { principalOf, requireRoles, secretKey } from "./auth.js";
import { commandContext, committed, etag, readModelsAt, readYourWrites, written, type ApiDeps } from "./deps.js";
import { cartResource } from "../queries/carts.js";
import { requestId } from "./idempotency.js";
import { takeClaimForOrder, type ClaimedOrder } from "../flash-sales/claim-orders.js";
import { ClaimId } from "./flash-sales.js";
import { notImplemented, ProblemError } from "./problem.js";
import { CartResource, OrderAccepted, problems } from "./responses.js";
import { PaymentMethod, Quantity, ShippingAddress, Sku, WaitForQuery } from "./schemas.js";

const AddItem = Type.Object({ sku: Sku, quantity: Quantity }, { additionalProperties: false });
const SetQuantity = Type.Object({ quantity: Quantity }, { additionalProperties: false });
const SkuParams = Type.Object({ sku: Sku });
const CouponBody = Type.Object(
  { code: Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" }) },
  { additionalProperties: false },
);
const Checkout = Type.Object(
  {
    shippingAddress: ShippingAddress,
    paymentMethod: PaymentMethod,
    flashSaleClaimId: Type.Optional({
      ...ClaimId,
      description:
        "a flash-sale claim of this customer: the cart must hold exactly the claim's SKU and quantity, ordered at the sale price",
    }),
  },
  { additionalProperties: false },
);

export async function cartRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const customer = requireRoles(secretKey(deps.jwtSecret), "customer");
  const me = (request: FastifyRequest) => principalOf(request).sub;
  /** The caller's cart from the carts read model, once it holds `position` (the write just made, if any). */
  const answer = async (request: FastifyRequest, position: string | null) => {
    await readModelsAt(deps, request, position);
    const view = await deps.read.getCart(me(request));
    return { ...cartResource(view), position, etag: etag(view.version) };
  };

  app.get<{ Querystring: Static<typeof WaitForQuery> }>(
    "/api/cart",
    {
      schema: {
        tags: ["cart"],
        summary: "The caller's cart from the carts read model; ?waitFor=<a write's position> (or X-Wait-For) waits for it first",
        querystring: WaitForQuery,
        response: { 200: CartResource },
      },
      onRequest: customer,
    },
    async (request, reply) => {
      await readYourWrites(deps, request);
      const { etag: tag, position: _p, ...body } = await answer(request, null);
      reply.header("ETag", tag);
      return body;
    },
  );

  app.post<{ Body: Static<typeof AddItem> }>(
    "/api/cart/items",
    {
      schema: {
        tags: ["cart"],
        summary: "Add an item (price from the catalog)",
        body: AddItem,
        response: { 200: CartResource, ...problems(409, 413, 415, 422) },
      },
      onRequest: customer,
    },
    async (request, reply) => {
      const r = await addCartItem(commandContext(deps, request), me(request), request.body);
      const { etag: tag, ...body } = await answer(request, r.position);
      reply.header("ETag", tag);
      return { ...body, ...committed(reply, r.position) };
    },
  );

  app.put<{ Params: Static<typeof SkuParams>; Body: Static<typeof SetQuantity> }>(
    "/api/cart/items/:sku",
    {
      schema: {
        tags: ["cart"],
        summary: "Change an item's quantity",
        params: SkuParams,
        body: SetQuantity,
        response: { 200: CartResource, ...problems(409, 413, 415, 422) },
      },
      onRequest: customer,
    },
    async (request, reply) => {
      const r = await changeCartItem(commandContext(deps, request), me(request), request.params.sku, request.body.quantity);
      const { etag: tag, ...body } = await answer(request, r.position);
      reply.header("ETag", tag);
      return { ...body, ...committed(reply, r.position) };
    },
  );

  app.delete<{ Params: Static<typeof SkuParams> }>(
    "/api/cart/items/:sku",
    {
      schema: { tags: ["cart"], summary: "Remove an item", params: SkuParams, response: { 200: CartResource, ...problems(409) } },
      onRequest: customer,
    },
    async (request, reply) => {
      const r = await removeCartItem(commandContext(deps, request), me(request), request.params.sku);
      const { etag: tag, ...body } = await answer(request, r.position);
      reply.header("ETag", tag);
      return { ...body, ...committed(reply, r.position) };
    },
  );

  app.post<{ Body: Static<typeof CouponBody> }>(
    "/api/cart/coupon",
    {
      schema: {
        tags: ["cart"],
        summary: "Apply a coupon",
        body: CouponBody,
        response: { 200: CartResource, ...problems(409, 413, 415, 422) },
      },
      onRequest: customer,
    },
    async (request, reply) => {
      const r = await applyCartCoupon(commandContext(deps, request), me(request), request.body.code);
      const { etag: tag, ...body } = await answer(request, r.position);
      reply.header("ETag", tag);
      return { ...body, ...committed(reply, r.position) };
    },
  );

  app.post<{ Body: Static<typeof Checkout> }>(
    "/api/cart/checkout",
    {
      schema: {
        tags: ["cart"],
        summary: "Check the cart out into an order: the same 202 as placing an order",
        body: Checkout,
        response: { 202: OrderAccepted, ...problems(404, 409, 413, 415, 422, 501, 503) },
      },
      onRequest: customer,
    },
    async (request, reply) => {
      deps.admission?.admit(); // before anything is written: 503 while the order pipeline is over its lag bound
      const { flashSaleClaimId, ...body } = request.body;
      let orderId = requestId(request, "order");
      let flashSale: ClaimedOrder["flashSale"] | undefined;
      if (flashSaleClaimId !== undefined) {
        if (!deps.flashSales) throw notImplemented("flash sales");
        const { state } = await loadCart(deps, me(request));
        if (state.coupon)
          throw new ProblemError(422, "Unprocessable Content", "a coupon does not apply to a flash-sale order", {
            field: "flashSaleClaimId",
          });
        ({ orderId, flashSale } = await takeClaimForOrder(deps.flashSales.desk, {
          claimId: flashSaleClaimId,
          customerId: me(request),
          items: state.items,
        }));
      }
      const r = await checkOutCart(commandContext(deps, request), me(request), { orderId, ...body, ...(flashSale ? { flashSale } : {}) });
      reply.header("Location", `/api/orders/${orderId}`);
      return reply.code(202).send({ orderId, status: "CREATED", ...written(reply, r) });
    },
  );
}
