import { describe } from "vitest";
import { missing, server } from "../support/env.js";
import { openPostgresWorld } from "../support/stores.js";
import { projectionSuite } from "./suite.js";

describe.skipIf(missing(server("DATABASE_URL")))("PostgreSQL", () => {
  projectionSuite("PostgreSQL", openPostgresWorld);
});
