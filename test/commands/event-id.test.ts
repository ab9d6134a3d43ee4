import { describe, expect, it } from "vitest";
import { eventIdFor, uuidV5 } from "../../src/commands/event-id.js";

describe("event ids", () => {
  it("are RFC name-based UUIDs (version 5)", () => {
    // Reference values from Python's uuid.uuid5.
    expect(uuidV5("www.example.com", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")).toBe("2ed6657d-e927-568b-95e1-2665a8aea6a2");
    expect(uuidV5("https://example.com/a", "6ba7b811-9dad-11d1-80b4-00c04fd430c8")).toBe("6639460f-3425-5329-8097-a58f06127860");
  });
  it("are the same for the same command, stream and index, and differ otherwise", () => {
    expect(eventIdFor("cmd-1", "order-1", 0)).toBe(eventIdFor("cmd-1", "order-1", 0));
    const ids = new Set([
      eventIdFor("cmd-1", "order-1", 0),
      eventIdFor("cmd-1", "order-1", 1),
      eventIdFor("cmd-1", "order-2", 0),
      eventIdFor("cmd-2", "order-1", 0),
      eventIdFor("cmd-1-order", "1", 0),
    ]);
    expect(ids.size).toBe(5);
  });
  it("reject a namespace that is not a UUID", () => {
    expect(() => uuidV5("x", "not-a-uuid")).toThrow(/namespace/);
  });
});
