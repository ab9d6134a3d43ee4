import { describe } from "vitest";
import { missing, server } from "../support/env.js";
import { openPostgresWorld } from "../support/stores.js";
import { querySuite } from "./suite.js";

describe.skipIf(missing(server("DATABASE_URL")))("PostgreSQL", () => {
  querySuite("PostgreSQL", openPostgresWorld);
});
