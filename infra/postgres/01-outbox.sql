-- Run once by the postgres image on an empty data volume (docker-entrypoint-initdb.d).
-- The outbox must exist before Debezium registers: a filtered publication names its tables.
-- The app's own migration creates the same table with IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS outbox (
  id uuid PRIMARY KEY,
  aggregate_type text NOT NULL,
  aggregate_id text NOT NULL,
  type text NOT NULL,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
