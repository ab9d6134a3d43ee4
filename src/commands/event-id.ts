// Deterministic event ids: the same command appending to the same stream always produces the
// same ids, so a retried append is recognised by the store as the batch it already holds.
// Name-based UUIDs, version 5 (RFC 9562 §5.5: SHA-1 of namespace + name).

import { createHash } from "node:crypto";

/** The namespace of this system's event ids (a fixed random UUID; never change it). */
export const EVENT_ID_NAMESPACE = "0b1f6a52-3c3e-4c84-9a0e-5b7d1f4a9e21";

export function uuidV5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ""), "hex");
  if (ns.length !== 16) throw new Error(`namespace must be a UUID, got ${namespace}`);
  const hash = createHash("sha1").update(ns).update(name, "utf8").digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50; // version 5
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The id of the `index`-th event that command `commandId` appends to `streamId`. */
export const eventIdFor = (commandId: string, streamId: string, index: number): string =>
  uuidV5(JSON.stringify([commandId, streamId, index]), EVENT_ID_NAMESPACE);
