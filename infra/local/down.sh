#!/usr/bin/env bash
# Stops what up.sh started (by its pid files only; a server someone else started is left alone).
# Data stays in infra/local/.work, so the next up.sh resumes where this one left off.
# Safe to run when nothing is running.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Connect first (it talks to Kafka while it shuts down), Elasticsearch independently.
stop() {
  local name=$1 pid waited=0
  if ! pid=$(live_pid "$name"); then
    rm -f "$RUN/$name.pid"
    return
  fi
  log "$name: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= 60)); then
      log "$name: still running after 30s, killing it"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  rm -f "$RUN/$name.pid"
  log "$name: stopped"
}

[[ -d $RUN ]] || { log "nothing to stop"; exit 0; }
stop connect
stop kafka
stop elasticsearch

# Elasticsearch's launcher chain (runuser -> CLI JVM) exits with the server; make sure of it.
if [[ -s $RUN/elasticsearch-launcher.pid ]]; then
  launcher=$(<"$RUN/elasticsearch-launcher.pid")
  if [[ $launcher =~ ^[0-9]+$ ]] && [[ -r /proc/$launcher/cmdline ]] &&
    tr '\0' ' ' <"/proc/$launcher/cmdline" | grep -q runuser; then
    pkill -TERM -P "$launcher" 2>/dev/null || true
    kill -TERM "$launcher" 2>/dev/null || true
  fi
  rm -f "$RUN/elasticsearch-launcher.pid"
fi
rm -f "$RUN/es/elasticsearch.pid"
log "down"
