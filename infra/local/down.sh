#!/usr/bin/env bash
# Stops what up.sh started (by its pid files only; a server someone else started is left alone).
# Data stays in infra/local/.work, so the next up.sh resumes where this one left off.
# Safe to run when nothing is running, and after an up.sh that failed half-way.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

GRACE_SECONDS=30

# TERM, then KILL whatever is still alive after the grace period.
terminate() {
  local label=$1; shift
  local pids=("$@") waited=0 alive
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  while :; do
    alive=()
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
    ((${#alive[@]})) || return 0
    if ((waited >= GRACE_SECONDS * 2)); then
      log "$label: still running after ${GRACE_SECONDS}s, killing ${alive[*]}"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      return 0
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
}

stop() {
  local name=$1 pid
  if pid=$(live_pid "$name"); then
    log "$name: stopping pid $pid"
    terminate "$name" "$pid"
    log "$name: stopped"
  fi
  rm -f "$(pid_file "$name")"
}

# A process and all its descendants, parents first.
tree() {
  local pid=$1 child
  echo "$pid"
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do tree "$child"; done
}

[[ -d $RUN ]] || { log "nothing to stop"; exit 0; }

# Connect first: it still talks to Kafka while it shuts down.
stop connect
stop kafka
stop elasticsearch

# Elasticsearch runs as runuser -> CLI JVM -> server JVM. The chain normally ends with the
# server, but an up.sh that failed before the server wrote its pid file leaves only this handle.
launcher_file="$RUN/elasticsearch-launcher.pid"
if [[ -s $launcher_file ]]; then
  launcher=$(<"$launcher_file")
  if [[ $launcher =~ ^[0-9]+$ && -r /proc/$launcher/cmdline ]] &&
    tr '\0' ' ' <"/proc/$launcher/cmdline" | grep -q "^runuser .*elasticsearch"; then
    mapfile -t chain < <(tree "$launcher")
    log "elasticsearch launcher: stopping ${chain[*]}"
    terminate "elasticsearch launcher" "${chain[@]}"
  fi
  rm -f "$launcher_file"
fi
log "down"
