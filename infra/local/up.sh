#!/usr/bin/env bash
# Starts the real infrastructure the integration tests use, without Docker:
#   - Kafka, single KRaft node            127.0.0.1:9092 (controller on 9093)
#   - Kafka Connect (distributed, 1 node)  127.0.0.1:8083, Debezium PostgreSQL connector installed
#   - Elasticsearch, single node           127.0.0.1:9200
# Jars come from Maven Central (cached in ~/.m2); everything else lives in infra/local/.work.
# Idempotent: a server already answering on its port is reused, and a second run changes nothing.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TIMEOUT="${INFRA_TIMEOUT:-180}"   # seconds each server may take to become ready
HEAP="${INFRA_HEAP:-512m}"
PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
export PGHOST PGPORT PGUSER
T0=$(now)

# ---------------------------------------------------------------------------------------------
# helpers

die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# Shows the end of a log and fails.
fail_with_log() {
  local what=$1 file=$2
  printf '[infra] ERROR: %s\n' "$what" >&2
  if [[ -f $file ]]; then
    printf '[infra] ---- last 40 lines of %s ----\n' "$file" >&2
    tail -n 40 "$file" >&2
    printf '[infra] ----\n' >&2
  fi
  exit 1
}

# Installs a Debian package when the command it provides is missing (fresh machines).
need() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null 2>&1 && return
  log "installing $pkg (for $cmd)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
  fi
}

# A Java 17 home: Kafka 4 needs 17+, and Elasticsearch 8 is built and tested on 17.
java17_home() {
  local d
  if [[ -n ${ES_JAVA_HOME:-} ]]; then echo "$ES_JAVA_HOME"; return; fi
  for d in /usr/lib/jvm/java-17-openjdk-* /usr/lib/jvm/*17*; do
    [[ -x $d/bin/java ]] && { echo "$d"; return; }
  done
  d=$(command -v java) || die "no Java found: install openjdk-17-jre-headless"
  dirname "$(dirname "$(readlink -f "$d")")"
}

# Copies a template to .work, filling in @WORK@; leaves the file untouched when unchanged.
render() {
  local src=$1 dst=$2 tmp
  mkdir -p "$(dirname "$dst")"
  tmp=$(mktemp)
  sed "s#@WORK@#$WORK#g" "$src" >"$tmp"
  if cmp -s "$tmp" "$dst"; then rm -f "$tmp"; else mv "$tmp" "$dst" && chmod 644 "$dst"; fi
}

# Runs `mvn dependency:copy-dependencies` for a pom into a folder, once per pom content.
fetch() {
  local name=$1 pom=$2 out=$3 want started
  want=$(sha256sum "$pom" | cut -d' ' -f1)
  if [[ -f $out/.fetched && $(<"$out/.fetched") == "$want" ]]; then return; fi
  started=$(now)
  log "$name: fetching jars with Maven"
  rm -rf "$out" && mkdir -p "$out"
  mvn -q -B -f "$pom" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$out" >"$LOGS/maven-$name.log" 2>&1 ||
    fail_with_log "$name: Maven could not fetch the jars" "$LOGS/maven-$name.log"
  echo "$want" >"$out/.fetched"
  log "$name: fetched in $(since "$started")"
}

# Polls a readiness check until it passes; fails early when the process died, or on timeout.
wait_ready() {
  local name=$1 pid=$2 logfile=$3 started=$4; shift 4
  local deadline=$((SECONDS + TIMEOUT))
  until "$@"; do
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      fail_with_log "$name exited during startup" "$logfile"
    fi
    ((SECONDS < deadline)) || fail_with_log "$name not ready after ${TIMEOUT}s" "$logfile"
    sleep 1
  done
  log "$name: ready in $(since "$started")"
}

# Keeps the previous run's log as <name>.log.1 and returns the fresh log's path.
fresh_log() {
  local file="$LOGS/$1.log"
  [[ -f $file ]] && mv -f "$file" "$file.1"
  echo "$file"
}

# ---------------------------------------------------------------------------------------------
# jars

mkdir -p "$LOGS" "$RUN"
need mvn maven
need unzip unzip
need curl curl
need psql postgresql-client
JAVA_HOME_17=$(java17_home)
JAVA="$JAVA_HOME_17/bin/java"

fetch kafka "$LOCAL_DIR/maven/kafka.pom.xml" "$KAFKA_LIB"
fetch debezium "$LOCAL_DIR/maven/debezium.pom.xml" "$PLUGINS/debezium-connector-postgres"
fetch elasticsearch "$LOCAL_DIR/maven/elasticsearch.pom.xml" "$WORK/downloads/elasticsearch"

# Unpack Elasticsearch once per downloaded zip, dropping the versioned top-level folder.
es_zip=$(ls "$WORK"/downloads/elasticsearch/elasticsearch-*.zip)
if [[ ! -f $ES_HOME/.unpacked || $(<"$ES_HOME/.unpacked") != "$(basename "$es_zip")" ]]; then
  # A new version also gets fresh default config files (copied below).
  rm -rf "$ES_HOME" "$WORK/downloads/es-unzip" "$WORK/config/elasticsearch"
  unzip -q "$es_zip" -d "$WORK/downloads/es-unzip"
  mv "$WORK"/downloads/es-unzip/elasticsearch-* "$ES_HOME"
  rmdir "$WORK/downloads/es-unzip"
  basename "$es_zip" >"$ES_HOME/.unpacked"
fi
log "jars ready after $(since "$T0")"

# ---------------------------------------------------------------------------------------------
# Elasticsearch: launched first so it boots while Kafka does; waited for at the end.

es_ready() {
  curl -fsS "http://127.0.0.1:9200/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1
}

ES_PID="" ES_LOG="$LOGS/elasticsearch.log" ES_T0=$(now)
if port_open 9200; then
  log "elasticsearch: something already answers on 9200, reusing it"
else
  id -u "$ES_USER" >/dev/null 2>&1 || useradd -r -m -s /usr/sbin/nologin "$ES_USER"
  es_conf="$WORK/config/elasticsearch"
  mkdir -p "$es_conf/jvm.options.d" "$WORK/data/elasticsearch" "$LOGS/elasticsearch" \
    "$WORK/tmp/elasticsearch" "$RUN/es"
  # The distribution's defaults (log4j2, jvm.options), then our settings on top.
  for f in "$ES_HOME"/config/*; do
    [[ -e $es_conf/$(basename "$f") ]] || cp -r "$f" "$es_conf/"
  done
  # Its jvm.options point the GC log, error file and heap dumps at paths relative to the
  # working directory; anchor them in .work instead.
  sed -i -e "s#=logs/#=$LOGS/elasticsearch/#g" -e "s#HeapDumpPath=data\$#HeapDumpPath=$WORK/data/elasticsearch#" \
    "$es_conf/jvm.options"
  render "$LOCAL_DIR/config/elasticsearch.yml" "$es_conf/elasticsearch.yml"
  render "$LOCAL_DIR/config/es-heap.options" "$es_conf/jvm.options.d/heap.options"
  # It writes its keystore into the config folder, and must own data, logs and pid folders.
  chown -R "$ES_USER:" "$es_conf" "$WORK/data/elasticsearch" "$LOGS/elasticsearch" \
    "$WORK/tmp/elasticsearch" "$RUN/es"
  ES_LOG=$(fresh_log elasticsearch)
  log "elasticsearch: starting"
  cd "$WORK/tmp/elasticsearch"
  # Its bootstrap checks ask for 65535 open files (only a warning on loopback).
  ulimit -n 65535 2>/dev/null || true
  nohup runuser -u "$ES_USER" -- env -i PATH=/usr/bin:/bin HOME="$WORK/tmp/elasticsearch" \
    ES_JAVA_HOME="$JAVA_HOME_17" ES_PATH_CONF="$es_conf" ES_TMPDIR="$WORK/tmp/elasticsearch" \
    "$ES_HOME/bin/elasticsearch" -p "$RUN/es/elasticsearch.pid" >"$ES_LOG" 2>&1 </dev/null &
  ES_PID=$!
  cd "$LOCAL_DIR"
  echo "$ES_PID" >"$RUN/elasticsearch-launcher.pid"
fi

# ---------------------------------------------------------------------------------------------
# Kafka broker

kafka_ready() {
  port_open 9092 && grep -q "Kafka Server started" "$KAFKA_LOG"
}

KAFKA_T0=$(now)
if port_open 9092; then
  log "kafka: something already answers on 9092, reusing it"
else
  render "$LOCAL_DIR/config/kafka-server.properties" "$WORK/config/kafka-server.properties"
  # KRaft refuses an unformatted log dir; format exactly once (-g: standalone, no SCRAM).
  if [[ ! -f $WORK/data/kafka/meta.properties ]]; then
    cluster_id=$("$JAVA" -cp "$KAFKA_LIB/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
    "$JAVA" -Dlog4j2.configurationFile="$LOCAL_DIR/config/log4j2.properties" -cp "$KAFKA_LIB/*" \
      kafka.tools.StorageTool format -g -t "$cluster_id" \
      -c "$WORK/config/kafka-server.properties" >"$LOGS/kafka-format.log" 2>&1 ||
      fail_with_log "kafka: formatting the storage failed" "$LOGS/kafka-format.log"
  fi
  KAFKA_LOG=$(fresh_log kafka)
  log "kafka: starting"
  nohup "$JAVA" -Xms256m -Xmx"$HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOCAL_DIR/config/log4j2.properties" \
    -cp "$KAFKA_LIB/*" kafka.Kafka "$WORK/config/kafka-server.properties" \
    >"$KAFKA_LOG" 2>&1 </dev/null &
  echo $! >"$RUN/kafka.pid"
  wait_ready kafka $! "$KAFKA_LOG" "$KAFKA_T0" kafka_ready
fi

# ---------------------------------------------------------------------------------------------
# PostgreSQL: Debezium needs logical decoding (a restart only when a setting must change).

PG_T0=$(now)
pg_show() { psql -Atqc "SHOW $1"; }
pg_restart=no
if [[ $(pg_show wal_level) != logical ]]; then
  log "postgres: switching wal_level to logical"
  psql -qc "ALTER SYSTEM SET wal_level = logical" && pg_restart=yes
fi
for setting in max_replication_slots max_wal_senders; do
  if (($(pg_show "$setting") < 10)); then
    psql -qc "ALTER SYSTEM SET $setting = 10" && pg_restart=yes
  fi
done
# A stalled replication slot may hold at most this much WAL (infra/postgres/README.md); a reload applies it.
if [[ $(pg_show max_slot_wal_keep_size) == -1 ]]; then
  log "postgres: max_slot_wal_keep_size = 4GB"
  psql -qc "ALTER SYSTEM SET max_slot_wal_keep_size = '4GB'" -c "SELECT pg_reload_conf()" >/dev/null
fi
if [[ $pg_restart == yes ]]; then
  [[ $PGHOST == 127.0.0.1 || $PGHOST == localhost ]] ||
    die "PostgreSQL at $PGHOST needs a restart for wal_level=logical; restart it yourself"
  pg_major=$(pg_show server_version | cut -d. -f1)
  log "postgres: restarting cluster $pg_major/main"
  pg_ctlcluster --skip-systemctl-redirect "$pg_major" main restart
  [[ $(pg_show wal_level) == logical ]] || die "postgres: wal_level is still not logical"
  log "postgres: logical decoding on in $(since "$PG_T0")"
fi

# ---------------------------------------------------------------------------------------------
# Kafka Connect with Debezium

connect_ready() {
  # The REST port opens before the worker has joined its group; /connectors answers 200 only
  # once it has read the config topic.
  curl -fsS http://127.0.0.1:8083/connectors >/dev/null 2>&1 &&
    curl -fsS http://127.0.0.1:8083/connector-plugins 2>/dev/null | grep -q PostgresConnector
}

CONNECT_T0=$(now)
if port_open 8083; then
  log "connect: something already answers on 8083, reusing it"
  CONNECT_LOG="$LOGS/connect.log"
  wait_ready connect "" "$CONNECT_LOG" "$CONNECT_T0" connect_ready
else
  render "$LOCAL_DIR/config/connect-distributed.properties" "$WORK/config/connect-distributed.properties"
  CONNECT_LOG=$(fresh_log connect)
  log "connect: starting"
  nohup "$JAVA" -Xms128m -Xmx"$HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOCAL_DIR/config/log4j2.properties" \
    -cp "$KAFKA_LIB/*" org.apache.kafka.connect.cli.ConnectDistributed \
    "$WORK/config/connect-distributed.properties" >"$CONNECT_LOG" 2>&1 </dev/null &
  echo $! >"$RUN/connect.pid"
  wait_ready connect $! "$CONNECT_LOG" "$CONNECT_T0" connect_ready
fi

# ---------------------------------------------------------------------------------------------
# Elasticsearch readiness

wait_ready elasticsearch "$ES_PID" "$ES_LOG" "$ES_T0" es_ready

log "all up in $(since "$T0"):"
log "  export KAFKA_BROKERS=127.0.0.1:9092"
log "  export KAFKA_CONNECT_URL=http://127.0.0.1:8083"
log "  export ELASTICSEARCH_URL=http://127.0.0.1:9200"
log "  export DATABASE_URL=postgres://$PGUSER@$PGHOST:$PGPORT/postgres"
