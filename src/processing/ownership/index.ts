// Ownership of work across instances: leases in the database (leases.ts), the assignment every
// instance computes alike (assignment.ts), the loop that renews, hands over and takes units
// (ownership.ts), and processors / the scheduler as leased units (leased-processor.ts).
export * from "./leases.js";
export * from "./assignment.js";
export * from "./ownership.js";
export * from "./leased-processor.js";
