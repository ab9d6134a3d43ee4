// How a saga command reaches its target: an aggregate command through handleCommand (or, at the
// head of a step, as a batched command appended with the step), a call to the payment gateway, or
// the flash-sale stock. Every command carries its deterministic command id, so issuing it again
// (a re-delivered step) appends nothing and the gateway deduplicates by idempotency key; gateway
// calls whose effect is already on the Payment are skipped.

import type { Logger } from "pino";
import { DomainError } from "../aggregates/decider.js";
import { inventoryDecider, streamId as inventoryStream } from "../aggregates/inventory.js";
import { orderDecider, streamId as orderStream } from "../aggregates/order.js";
import { paymentDecider, streamId as paymentStream, type PaymentState } from "../aggregates/payment.js";
import type { BatchedCommand } from "../commands/command-batch.js";
import { envelope, type CommandOrigin } from "../commands/envelope.js";
import { handleCommand } from "../commands/handle-command.js";
import { loadAggregate } from "../commands/load.js";
import type { EventStore } from "../eventstore/port.js";
import type { PaymentGateway } from "../payments/payment-gateway.js";
import type { Clock } from "../scheduling/deadlines.js";
import type { FlashSaleStock } from "./flash-sale-orders.js";
import type { SagaCommand } from "./order-saga.js";

export interface SagaCommandTargets {
  store: EventStore;
  gateway: PaymentGateway;
  clock: Clock;
  /** Where orders from flash-sale claims draw and give back their units (src/flash-sales/sale-stock.ts). */
  flashSaleStock?: FlashSaleStock;
  logger?: Logger;
}

/** The aggregate commands at the head of a step, before its first gateway call, as batched commands. */
export function batchablePrefix(commands: readonly SagaCommand[]): BatchedCommand[] {
  const batch: BatchedCommand[] = [];
  for (const c of commands) {
    const common = { commandId: c.commandId, ...(c.mootOk ? { mootOk: true } : {}) };
    if (c.target === "order")
      batch.push({ ...common, decider: orderDecider, streamId: orderStream(c.command.orderId), command: c.command });
    else if (c.target === "inventory")
      batch.push({
        ...common,
        decider: inventoryDecider,
        streamId: inventoryStream(c.command.sku, c.command.warehouseId),
        command: c.command,
      });
    else if (c.target === "payment")
      batch.push({ ...common, decider: paymentDecider, streamId: paymentStream(c.command.paymentId), command: c.command });
    else break;
  }
  return batch;
}

/**
 * Issues one saga command. A DomainError of a command marked `mootOk` is logged and swallowed;
 * every other error (GatewayError included) propagates to the step.
 */
export function sagaCommandIssuer(targets: SagaCommandTargets): (c: SagaCommand, step: CommandOrigin) => Promise<void> {
  const { store, gateway, clock, logger } = targets;

  /** `step`: the origin of the step's commands (its correlation, actor and trace); each command has its own id. */
  return async function issue(c: SagaCommand, step: CommandOrigin): Promise<void> {
    const origin: CommandOrigin = { ...step, commandId: c.commandId };
    try {
      switch (c.target) {
        case "order":
          await handleCommand(store, orderDecider, envelope(origin, orderStream(c.command.orderId), c.command));
          return;
        case "inventory":
          await handleCommand(store, inventoryDecider, envelope(origin, inventoryStream(c.command.sku, c.command.warehouseId), c.command));
          return;
        case "payment":
          await handleCommand(store, paymentDecider, envelope(origin, paymentStream(c.command.paymentId), c.command));
          return;
        case "gateway":
          await callGateway(c, origin);
          return;
        case "flashSale":
          if (!targets.flashSaleStock)
            throw new Error(`order ${c.orderId} came from a flash-sale claim, but no flash-sale stock is wired into the saga`);
          await targets.flashSaleStock.apply(c);
          return;
      }
    } catch (error) {
      if (error instanceof DomainError && c.mootOk) {
        logger?.info({ commandId: c.commandId, rule: error.rule, err: error.message }, "saga command moot");
        return;
      }
      throw error;
    }
  };

  async function callGateway(c: Extract<SagaCommand, { target: "gateway" }>, origin: CommandOrigin): Promise<void> {
    const loaded = await loadAggregate(store, paymentDecider, paymentStream(c.paymentId));
    const payment = loaded.state;
    const gatewayPaymentId = (p: PaymentState) => (p.status !== "NONE" ? (p.gatewayPaymentId ?? p.gatewayReference) : undefined);
    switch (c.op) {
      case "startPayment": {
        if (payment.status !== "NONE") return; // already initiated: the gateway was called before
        const result = await gateway.initiate({
          paymentId: c.paymentId,
          orderId: c.orderId,
          amount: c.amount,
          currency: c.currency,
          method: c.method,
          idempotencyKey: c.commandId,
        });
        await handleCommand(
          store,
          paymentDecider,
          envelope(origin, paymentStream(c.paymentId), {
            type: "InitiatePayment",
            paymentId: c.paymentId,
            orderId: c.orderId,
            amount: c.amount,
            currency: c.currency,
            method: c.method,
            gatewayReference: result.gatewayPaymentId,
            paymentUrl: result.paymentUrl,
            at: c.at,
          }),
          { known: loaded }, // read just above; a write since then fails the append and it is read again
        );
        return;
      }
      case "void": {
        const gp = gatewayPaymentId(payment);
        await gateway.void({
          paymentId: c.paymentId,
          ...(gp ? { gatewayPaymentId: gp } : {}),
          reason: c.reason,
          idempotencyKey: c.commandId,
        });
        return;
      }
      case "refund": {
        const refund = payment.status === "NONE" ? undefined : payment.refunds.find((r) => r.refundId === c.refundId);
        if (refund?.status !== "PENDING") return; // done already (or never asked)
        const gp = gatewayPaymentId(payment);
        const result = await gateway.refund({
          paymentId: c.paymentId,
          ...(gp ? { gatewayPaymentId: gp } : {}),
          refundId: c.refundId,
          amount: c.amount,
          currency: c.currency,
          reason: c.reason,
          idempotencyKey: c.commandId,
        });
        if (result.status === "processed") {
          await handleCommand(
            store,
            paymentDecider,
            envelope({ ...origin, commandId: `${c.commandId}/processed` }, paymentStream(c.paymentId), {
              type: "RecordRefundProcessed",
              paymentId: c.paymentId,
              refundId: c.refundId,
              gatewayEventId: `direct:${result.gatewayRefundId}`,
              at: clock.now().toISOString(),
            }),
          );
        }
        return;
      }
    }
  }
}
