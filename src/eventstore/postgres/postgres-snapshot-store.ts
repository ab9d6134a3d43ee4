// Snapshots in the es_snapshots table (migration eventstore/003-snapshots), on PostgreSQL and PGlite.
// One row per stream and schema key: two versions of the code running side by side (a rolling
// deploy) each keep their own snapshot instead of overwriting each other's.
//
// Writes are single upserts in transactions of their own, never inside an append's transaction
// (es_append must be its transaction's first write, ADR 0002).

import type { SqlClient } from "../../infrastructure/sql/sql-client.js";
import type { Snapshot, SnapshotStore } from "../snapshots/port.js";

interface SnapshotRow {
  stream_id: string;
  revision: string;
  event_id: string;
  schema_key: string;
  state: unknown;
  causations: unknown;
  digest: string;
}

export class PostgresSnapshotStore implements SnapshotStore {
  constructor(
    private readonly sql: SqlClient,
    readonly every: number,
  ) {}

  async load(streamIds: readonly string[], schemaKey: string): Promise<Map<string, Snapshot>> {
    const found = new Map<string, Snapshot>();
    if (streamIds.length === 0) return found;
    const { rows } = await this.sql.query<SnapshotRow>(
      `SELECT stream_id, revision::text AS revision, event_id, schema_key, state, causations, digest
         FROM es_snapshots WHERE stream_id = ANY ($1::text[]) AND schema_key = $2`,
      [[...new Set(streamIds)], schemaKey],
    );
    for (const row of rows) {
      found.set(row.stream_id, {
        streamId: row.stream_id,
        revision: Number(row.revision),
        eventId: row.event_id,
        schemaKey: row.schema_key,
        state: row.state,
        // Whatever a damaged row holds here, the digest check rejects it; keep the type honest meanwhile.
        causations: Array.isArray(row.causations) ? row.causations.map(String) : [],
        digest: row.digest,
      });
    }
    return found;
  }

  async save(snapshot: Snapshot): Promise<void> {
    await this.sql.query(
      `INSERT INTO es_snapshots (stream_id, schema_key, revision, event_id, state, causations, digest)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7)
       ON CONFLICT (stream_id, schema_key) DO UPDATE
         SET revision = EXCLUDED.revision, event_id = EXCLUDED.event_id, state = EXCLUDED.state,
             causations = EXCLUDED.causations, digest = EXCLUDED.digest, written_at = now()
         WHERE es_snapshots.revision < EXCLUDED.revision`,
      [
        snapshot.streamId,
        snapshot.schemaKey,
        snapshot.revision,
        snapshot.eventId,
        JSON.stringify(snapshot.state),
        JSON.stringify(snapshot.causations),
        snapshot.digest,
      ],
    );
  }

  async discard(streamId: string, schemaKey: string, revision: number): Promise<void> {
    await this.sql.query("DELETE FROM es_snapshots WHERE stream_id = $1 AND schema_key = $2 AND revision = $3", [
      streamId,
      schemaKey,
      revision,
    ]);
  }
}
