// A search query with every filter empty and the default facets; tests set only what they ask.

import { DEFAULT_FACETS, type ProductSearchQuery } from "../../src/search/port.js";

export const searchQuery = (q: Partial<ProductSearchQuery> = {}): ProductSearchQuery => ({
  q: "",
  categories: [],
  brands: [],
  attributes: {},
  sort: "relevance",
  page: 1,
  size: 20,
  facets: DEFAULT_FACETS,
  ...q,
});
