# Shared by up.sh and down.sh (sourced, not run).

LOCAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK="$LOCAL_DIR/.work"        # git-ignored: jars, unpacked servers, data, logs, pid files
LOGS="$WORK/logs"
RUN="$WORK/run"
KAFKA_LIB="$WORK/kafka/lib"
PLUGINS="$WORK/connect-plugins"
ES_HOME="$WORK/elasticsearch"
ES_USER="${ES_USER:-esuser}"   # Elasticsearch refuses to run as root

# pid file, and a fragment its process's command line must contain (guards against a
# recycled pid after a reboot or a crash).
declare -A PID_MATCH=(
  [connect]="org.apache.kafka.connect.cli.ConnectDistributed"
  [kafka]="kafka.Kafka"
  [elasticsearch]="org.elasticsearch.bootstrap.Elasticsearch"
)

log() { printf '[infra] %s\n' "$*"; }

# True when something accepts TCP connections on 127.0.0.1:<port>.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Where each service's pid is recorded. Elasticsearch writes its server JVM's pid itself (-p),
# into a folder its user owns.
pid_file() {
  if [[ $1 == elasticsearch ]]; then echo "$RUN/es/elasticsearch.pid"; else echo "$RUN/$1.pid"; fi
}

# The pid recorded for a service when that process is still ours and alive; fails otherwise.
live_pid() {
  local name=$1 file pid
  file=$(pid_file "$name")
  [[ -s $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "${PID_MATCH[$name]}" || return 1
  echo "$pid"
}

# Seconds since the epoch with fractions, and the time elapsed since such a stamp.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
