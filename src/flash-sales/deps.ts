// What the flash-sale parts share: the log, the gate, the sale writer and claim recorder, a clock.

import type { Logger } from "pino";
import type { EventStore } from "../eventstore/port.js";
import type { ClaimRecorder } from "./claim-recorder.js";
import type { FlashSaleGate } from "./gate.js";
import type { SaleWriter } from "./sale-writer.js";

export interface FlashSaleDeps {
  store: EventStore;
  gate: FlashSaleGate;
  writer: SaleWriter;
  recorder: ClaimRecorder;
  now: () => Date;
  logger?: Pick<Logger, "info" | "warn" | "error">;
}

export const SALE_ACTOR = "flash-sale";
