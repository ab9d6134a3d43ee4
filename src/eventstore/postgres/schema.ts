// The event store's tables and its append function, identical on PostgreSQL and PGlite.
//
// Ordering without skipped events: a bigint identity is handed out at INSERT time, but
// transactions commit in another order, so a reader that trusts the identity alone can pass an
// event whose transaction commits later. Each row therefore records pg_current_xact_id(), and
// readers only look at rows whose transaction is older than the oldest transaction still
// running (pg_snapshot_xmin): those are all committed or rolled back, so nothing can appear
// behind the reader any more. The global order is (transaction_id, global_position).

import type { Migration } from "../../infrastructure/sql/migrations.js";

export const eventStoreMigrations: readonly Migration[] = [
  {
    id: "eventstore/001-events",
    sql: `
      CREATE TABLE es_events (
        global_position bigint GENERATED ALWAYS AS IDENTITY,
        transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
        event_id uuid NOT NULL,
        stream_id text NOT NULL,
        stream_revision bigint NOT NULL,
        category text NOT NULL,
        type text NOT NULL,
        schema_version int NOT NULL,
        data jsonb NOT NULL,
        metadata jsonb NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (transaction_id, global_position),
        CONSTRAINT es_events_stream_revision UNIQUE (stream_id, stream_revision),
        CONSTRAINT es_events_event_id UNIQUE (event_id)
      );

      -- Appends a batch to one stream atomically.
      --   p_expected: 'any' | 'no_stream' | 'stream_exists' | a revision number as text
      --   p_events:   [{id, type, schemaVersion, data, metadata}, ...]
      -- Concurrency: appends to one stream queue on an advisory lock taken BEFORE the transaction
      -- has a transaction id. A row lock would not do: it assigns the id first and then waits, and
      -- a newcomer can overtake the waiter, giving a later revision a smaller transaction id and
      -- so breaking stream order in the global (transaction_id, global_position) order. For the
      -- same reason the append must be the first write of its transaction.
      -- Idempotency is settled by the caller after a failure (ES409 or a duplicate event id),
      -- so the common path pays for no extra lookup; see PostgresEventStore.appendToStream.
      CREATE FUNCTION es_append(p_stream text, p_expected text, p_events jsonb)
      RETURNS TABLE (next_revision bigint, transaction_id text, global_position text)
      LANGUAGE plpgsql AS $fn$
      DECLARE
        v_count int;
        v_current bigint;
        v_last_position bigint;
      BEGIN
        IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
          RAISE EXCEPTION USING ERRCODE = 'ES001', MESSAGE = 'es_append must be the first write of its transaction';
        END IF;
        PERFORM pg_advisory_xact_lock(hashtextextended(p_stream, 7302));

        v_count := jsonb_array_length(p_events);
        -- The stream's revision is its last event's: one backward step on the (stream_id, stream_revision) index.
        SELECT coalesce(max(ev.stream_revision), -1) INTO v_current FROM es_events ev WHERE ev.stream_id = p_stream;

        IF NOT (p_expected = 'any'
             OR (p_expected = 'no_stream' AND v_current = -1)
             OR (p_expected = 'stream_exists' AND v_current >= 0)
             OR (p_expected ~ '^[0-9]+$' AND v_current = p_expected::bigint)) THEN
          RAISE EXCEPTION USING ERRCODE = 'ES409', MESSAGE = 'wrong expected version', DETAIL = v_current::text;
        END IF;

        WITH inserted AS (
          INSERT INTO es_events (event_id, stream_id, stream_revision, category, type, schema_version, data, metadata)
          SELECT (e->>'id')::uuid, p_stream, v_current + n, split_part(p_stream, '-', 1), e->>'type',
                 (e->>'schemaVersion')::int, e->'data', e->'metadata'
            FROM jsonb_array_elements(p_events) WITH ORDINALITY AS t(e, n)
           ORDER BY n
          RETURNING es_events.global_position
        )
        SELECT max(inserted.global_position) INTO v_last_position FROM inserted;

        RETURN QUERY
          SELECT v_current + v_count, pg_current_xact_id()::text, v_last_position::text;
      END
      $fn$;
    `,
  },
  {
    // Several streams in one transaction: every stream's advisory lock first (in stream id order,
    // so two multi-stream appends cannot deadlock), then each stream's expected revision checked,
    // then all rows inserted. A mismatch raises ES409 with DETAIL '<current revision>' and HINT
    // the stream id. Same first-write rule as es_append.
    //   p_appends: [{stream, expected, events: [{id, type, schemaVersion, data, metadata}, ...]}, ...]
    id: "eventstore/002-append-many",
    sql: `
      CREATE FUNCTION es_append_many(p_appends jsonb)
      RETURNS TABLE (stream_id text, next_revision bigint, transaction_id text, global_position text)
      LANGUAGE plpgsql AS $fn$
      DECLARE
        v_stream text;
        v_append jsonb;
        v_expected text;
        v_current bigint;
        v_last_position bigint;
      BEGIN
        IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
          RAISE EXCEPTION USING ERRCODE = 'ES001', MESSAGE = 'es_append_many must be the first write of its transaction';
        END IF;
        FOR v_stream IN SELECT a->>'stream' FROM jsonb_array_elements(p_appends) a ORDER BY 1 LOOP
          PERFORM pg_advisory_xact_lock(hashtextextended(v_stream, 7302));
        END LOOP;
        FOR v_append IN SELECT a FROM jsonb_array_elements(p_appends) WITH ORDINALITY AS t(a, n) ORDER BY n LOOP
          v_stream := v_append->>'stream';
          v_expected := v_append->>'expected';
          SELECT coalesce(max(ev.stream_revision), -1) INTO v_current FROM es_events ev WHERE ev.stream_id = v_stream;
          IF NOT (v_expected = 'any'
               OR (v_expected = 'no_stream' AND v_current = -1)
               OR (v_expected = 'stream_exists' AND v_current >= 0)
               OR (v_expected ~ '^[0-9]+$' AND v_current = v_expected::bigint)) THEN
            RAISE EXCEPTION USING ERRCODE = 'ES409', MESSAGE = 'wrong expected version', DETAIL = v_current::text, HINT = v_stream;
          END IF;
          WITH inserted AS (
            INSERT INTO es_events (event_id, stream_id, stream_revision, category, type, schema_version, data, metadata)
            SELECT (e->>'id')::uuid, v_stream, v_current + n, split_part(v_stream, '-', 1), e->>'type',
                   (e->>'schemaVersion')::int, e->'data', e->'metadata'
              FROM jsonb_array_elements(v_append->'events') WITH ORDINALITY AS t(e, n)
             ORDER BY n
            RETURNING es_events.global_position
          )
          SELECT max(inserted.global_position) INTO v_last_position FROM inserted;
          stream_id := v_stream;
          next_revision := v_current + jsonb_array_length(v_append->'events');
          transaction_id := pg_current_xact_id()::text;
          global_position := v_last_position::text;
          RETURN NEXT;
        END LOOP;
      END
      $fn$;
    `,
  },
  {
    // Snapshots of long streams (src/eventstore/snapshots/port.ts): one row per stream and schema
    // key, written outside any append's transaction. `event_id` is the event at `revision` the
    // state was folded up to; a reader that finds another event there ignores the row.
    id: "eventstore/003-snapshots",
    sql: `
      CREATE TABLE es_snapshots (
        stream_id text NOT NULL,
        schema_key text NOT NULL,
        revision bigint NOT NULL,
        event_id text NOT NULL,
        state jsonb NOT NULL,
        causations jsonb NOT NULL,
        digest text NOT NULL,
        written_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (stream_id, schema_key)
      );
    `,
  },
];
