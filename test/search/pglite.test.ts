// The search contract on the embedded engine over PGlite: always runs, no configuration needed.

import { startSearch } from "../../src/projections/search/index.js";
import { openPgliteWorld } from "../support/stores.js";
import { searchContract } from "./contract.js";

searchContract("embedded PostgreSQL engine on PGlite", async () => {
  const world = await openPgliteWorld();
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
