// The search contract on the embedded engine's SQL against a real PostgreSQL server (a throwaway database).

import { describe } from "vitest";
import { startSearch } from "../../src/projections/search/index.js";
import { missing, server } from "../support/env.js";
import { openPostgresWorld } from "../support/stores.js";
import { searchContract } from "./contract.js";

describe.skipIf(missing(server("DATABASE_URL")))("search on PostgreSQL", () => {
  searchContract("PostgreSQL full-text engine on a real server", async () => {
    const world = await openPostgresWorld();
    const search = await startSearch({ store: world.store, sql: world.sql });
    return {
      store: world.store,
      search,
      async close() {
        await search.stop();
        await world.close();
      },
    };
  });
});
