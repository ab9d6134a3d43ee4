// The search projection's tables under a prefix, for tests that build several side by side.

import type { SearchTables } from "../../src/projections/search/documents.js";

export const searchTablesNamed = (prefix: string): SearchTables => ({
  documents: `${prefix}_documents`,
  stock: `${prefix}_stock`,
  sales: `${prefix}_sales`,
  terms: `${prefix}_terms`,
  variants: `${prefix}_variants`,
  shipments: `${prefix}_shipments`,
  popularity: `${prefix}_popularity`,
});
