-- Run once by the postgres image on an empty data volume (docker-entrypoint-initdb.d).
-- The outbox must exist before Debezium registers: a filtered publication names its tables.
-- The app's migration (src/integration/outbox.ts, OUTBOX_DDL) runs exactly this text; a test
-- keeps the two identical.
CREATE TABLE IF NOT EXISTS outbox (
  id uuid PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  aggregate_type text NOT NULL,
  aggregate_id text NOT NULL,
  type text NOT NULL,
  payload bytea NOT NULL,
  ce_source text NOT NULL,
  ce_time text NOT NULL,
  ce_specversion text NOT NULL,
  content_type text NOT NULL,
  correlationid text NOT NULL,
  causationid text NOT NULL,
  traceparent text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS outbox_seq ON outbox (seq);
CREATE TABLE IF NOT EXISTS outbox_heartbeat (
  id int PRIMARY KEY,
  beat_at timestamptz NOT NULL
);
INSERT INTO outbox_heartbeat (id, beat_at) VALUES (1, now()) ON CONFLICT (id) DO NOTHING;
