// Which aggregates keep snapshots, and under which schema key. A snapshot is trusted only by code
// that folds exactly as the code that wrote it did, so the key changes whenever the fold may
// change: it hashes the decider's evolve and evolveAll functions, the codec's functions and the event schema
// versions, plus an explicit version. Source hashing catches an edited evolve; a change in a
// function evolve calls (a helper beside it) is not in evolve's source, so whoever changes one
// bumps the version. An old snapshot is then ignored and rebuilt from the log, never migrated.

import { createHash } from "node:crypto";
import type { Decider, DomainEvent } from "../aggregates/decider.js";
import { inventoryDecider, inventorySnapshotCodec } from "../aggregates/inventory.js";
import type { JsonValue } from "../eventstore/port.js";
import type { Snapshot } from "../eventstore/snapshots/port.js";

/** How an aggregate's state becomes JSON and back. `decode` throws on anything it does not recognise. */
export interface SnapshotCodec<State> {
  /** Bump when the state's meaning changes in a way the hashed sources do not show. */
  version: number;
  /** Plain JSON: objects, arrays, strings, finite numbers, booleans, null. */
  encode(state: State): unknown;
  decode(json: unknown): State;
}

export interface SnapshotSchema<State> extends SnapshotCodec<State> {
  /** `<category>/v<version>/<hash>`: snapshots written under another key are ignored. */
  key: string;
}

export function snapshotSchema<State>(
  decider: Pick<Decider<unknown, DomainEvent, State>, "category" | "evolve" | "evolveAll" | "schemaVersions">,
  codec: SnapshotCodec<State>,
): SnapshotSchema<State> {
  const hash = createHash("sha256")
    .update(decider.evolve.toString())
    .update(decider.evolveAll?.toString() ?? "")
    .update(codec.encode.toString())
    .update(codec.decode.toString())
    .update(canonicalJson(decider.schemaVersions as unknown as JsonValue))
    .digest("hex")
    .slice(0, 16);
  return { ...codec, key: `${decider.category}/v${codec.version}/${hash}` };
}

// The hot streams: an inventory stream (one SKU in one warehouse) gains three or more events per order.
// biome-ignore lint/suspicious/noExplicitAny: deciders of every aggregate share the table; each schema matches its own decider
const schemas = new Map<unknown, SnapshotSchema<any>>([[inventoryDecider, snapshotSchema(inventoryDecider, inventorySnapshotCodec)]]);

/** The snapshot schema of this decider, or undefined when its streams are always folded whole. */
export const snapshotSchemaOf = <State>(decider: Decider<never, DomainEvent, State>): SnapshotSchema<State> | undefined =>
  schemas.get(decider);

/** The checksum a snapshot carries over everything it says (so a damaged row is recognised, not believed). */
export const snapshotDigest = (s: Omit<Snapshot, "digest">): string =>
  createHash("sha256")
    .update(canonicalJson([s.streamId, s.revision, s.eventId, s.schemaKey, s.state as JsonValue, s.causations]))
    .digest("hex");

/** JSON with object keys sorted, so the digest survives jsonb reordering keys. */
function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k]!)}`).join(",")}}`;
}
