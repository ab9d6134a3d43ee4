import { describe } from "vitest";
import { missing, server } from "../support/env.js";
import { openPostgresWorld } from "../support/stores.js";
import { auditReadsSuite } from "./audit-reads.js";

describe.skipIf(missing(server("DATABASE_URL")))("PostgreSQL", () => {
  auditReadsSuite("PostgreSQL", openPostgresWorld);
});
