// Flash sales: a sale's units set aside from inventory, sold to a crowd through an admission gate
// (gate.ts: Redis or PostgreSQL), recorded in the log in batches, drawn by orders in batches.
// openFlashSales puts the parts together around a gate the caller chose (src/app.ts).

import type { Logger } from "pino";
import type { EventStore } from "../eventstore/port.js";
import { ClaimDesk } from "./claim-desk.js";
import { ClaimRecorder } from "./claim-recorder.js";
import type { FlashSaleDeps } from "./deps.js";
import type { FlashSaleGate } from "./gate.js";
import { startSaleTimers, type SaleTimers } from "./sale-closing.js";
import { BatchedSaleStock } from "./sale-stock.js";
import { SaleWriter } from "./sale-writer.js";

export interface FlashSales {
  deps: FlashSaleDeps;
  desk: ClaimDesk;
  stock: BatchedSaleStock;
  timers: SaleTimers;
  close(): Promise<void>;
}

export function openFlashSales(options: {
  store: EventStore;
  gate: FlashSaleGate;
  now?: () => Date;
  logger?: Logger;
  timerIntervalMs?: number | false;
}): FlashSales {
  const now = options.now ?? (() => new Date());
  const writer = new SaleWriter(options.store);
  const deps: FlashSaleDeps = {
    store: options.store,
    gate: options.gate,
    writer,
    recorder: new ClaimRecorder(writer, { now }),
    now,
    ...(options.logger ? { logger: options.logger } : {}),
  };
  const desk = new ClaimDesk(deps);
  const timers = startSaleTimers(deps, desk, { intervalMs: options.timerIntervalMs ?? 1000 });
  return {
    deps,
    desk,
    stock: new BatchedSaleStock(deps, desk),
    timers,
    async close() {
      await timers.stop();
      await options.gate.dispose();
    },
  };
}

export type { FlashSaleGate } from "./gate.js";
