// The SQL read models: what each one is (./projection.ts and one file per model), which exist
// (./registry.ts), the processor keeping one up to date (./projector.ts), running them all with
// read-your-writes (./runtime.ts), their lag (./status.ts), rebuilding (./rebuild.ts) and
// verifying them (./verify.ts). Importers use this file.

export * from "./projection.js";
export { orderHistoryProjection } from "./order-history.js";
export { ordersProjection } from "./orders.js";
export { productsProjection } from "./products.js";
export { refundsProjection } from "./refunds.js";
export { findProjection, migrateProjections, projections } from "./registry.js";
export { projectorDefinition } from "./projector.js";
export { currentHead, projectionStatus } from "./status.js";
export { startProjections, type RunningProjections } from "./runtime.js";
export { createTables, rebuildInPlace, rebuildShadow, rebuildShadowTogether, replayInPlace, replayInto } from "./rebuild.js";
export { verifyProjection } from "./verify.js";
