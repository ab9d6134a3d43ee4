// The order saga: pure decisions (order-saga.ts); over the log, the inputs it reads
// (saga-inputs.ts), one step's execution (saga-step.ts, saga-commands.ts) and the processors that
// run it (order-saga-runner.ts, partitions.ts); operator tools (attention.ts) and the stock
// locator it reads (inventory-locator.ts).
export * from "./order-saga.js";
export * from "./order-saga-runner.js";
export * from "./saga-inputs.js";
export * from "./saga-step.js";
export * from "./attention.js";
export * from "./inventory-locator.js";
export * from "./partitions.js";
export * from "./stock-planning-lock.js";
export * from "./stock-planning-lock-postgres.js";
