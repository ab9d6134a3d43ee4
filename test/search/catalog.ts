// A generated catalog with known categories, brands, prices, attributes and stock, so every count
// a search reports can be computed here independently. Fixed seed: the same 1,000 products each run.

export interface GeneratedProduct {
  sku: string;
  name: string;
  description: string;
  category: [string, string];
  brand: string;
  price: number;
  color: string;
  stock: number;
}

export const BRANDS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark"];
const TREE: Record<string, string[]> = {
  Electronics: ["Phones", "Laptops", "Audio"],
  Home: ["Kitchen", "Lighting"],
  Fashion: ["Shoes", "Watches"],
};
const NOUNS: Record<string, string[]> = {
  Phones: ["Phone", "Handset"],
  Laptops: ["Laptop", "Ultrabook"],
  Audio: ["Headphones", "Speaker", "Earbuds"],
  Kitchen: ["Blender", "Kettle", "Toaster"],
  Lighting: ["Lamp", "Lantern"],
  Shoes: ["Sneakers", "Boots"],
  Watches: ["Watch", "Chronograph"],
};
const ADJECTIVES = ["Swift", "Silent", "Bright", "Compact", "Rugged", "Classic", "Ultra", "Smart"];
export const COLORS = ["black", "white", "red", "blue"];

/** Special products the typo, accent and synonym tests look for. */
export const SPECIAL: Record<number, Partial<GeneratedProduct>> = {
  100: { name: "Zephyrine Soundbar", description: "Room-filling sound" },
  200: { name: "iPhone 15", brand: "Apple", category: ["Electronics", "Phones"], description: "The phone from Apple" },
  300: { name: "Café Crème Espresso Maker", category: ["Home", "Kitchen"], description: "Brews espresso" },
  400: { name: "Quixotic Mobile Charger", category: ["Electronics", "Phones"], description: "Charges fast" },
};

export function generateCatalog(count: number, prefix: string): GeneratedProduct[] {
  let seed = 7;
  const next = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % n;
  };
  const pick = <T>(xs: readonly T[]): T => xs[next(xs.length)] as T;
  return Array.from({ length: count }, (_, i) => {
    const top = pick(Object.keys(TREE));
    const sub = pick(TREE[top]!);
    const base: GeneratedProduct = {
      sku: `${prefix}-${String(i).padStart(4, "0")}`,
      name: `${pick(ADJECTIVES)} ${pick(NOUNS[sub]!)} ${100 + i}`,
      description: `A ${sub.toLowerCase()} item number ${i}`,
      category: [top, sub],
      brand: pick(BRANDS),
      // Spread over every price facet bucket (minor units).
      price: 1_000 + next(7_000_000),
      color: pick(COLORS),
      stock: next(4) === 0 ? 0 : 1 + next(20),
    };
    return { ...base, ...SPECIAL[i] } as GeneratedProduct;
  });
}

export const countBy = <T>(xs: readonly T[], key: (x: T) => string | string[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const x of xs) for (const k of new Set([key(x)].flat())) out[k] = (out[k] ?? 0) + 1;
  return out;
};
