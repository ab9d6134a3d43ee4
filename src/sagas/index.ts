// The order saga: pure decisions (order-saga.ts), the runner over the log (order-saga-runner.ts),
// operator tools (attention.ts) and the stock locator it reads (inventory-locator.ts).
export * from "./order-saga.js";
export * from "./order-saga-runner.js";
export * from "./attention.js";
export * from "./inventory-locator.js";
export * from "./partitions.js";
export * from "./stock-planning-lock.js";
export * from "./stock-planning-lock-postgres.js";
