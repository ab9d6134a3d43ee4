// A schema's fingerprint: SHA-256 of its canonical JSON (keys sorted). Committed per versioned
// type in schema-fingerprints.json; a test fails when a type's schema no longer matches, which is
// the signal to publish the change as a new version instead.

import { createHash } from "node:crypto";

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
  );
}

/** JSON round trip first: TypeBox's symbol keys are not part of the schema. */
export const schemaFingerprint = (schema: unknown): string =>
  createHash("sha256")
    .update(JSON.stringify(canonical(JSON.parse(JSON.stringify(schema)))))
    .digest("hex");
