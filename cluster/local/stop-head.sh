#!/usr/bin/env bash
# Stop the head cluster/local/start-head.sh started, and only it: `ray stop` would stop
# every Ray instance on the machine. Its processes are the ones whose command line names
# its temp dir, and their descendants (workers, agents and job drivers rename themselves);
# they get SIGTERM, then SIGKILL after --grace seconds.
#
#   cluster/local/stop-head.sh [--temp-dir /tmp/raydapt-head] [--grace 10]
set -euo pipefail

temp_dir=/tmp/raydapt-head
grace=10
while [[ $# -gt 0 ]]; do
  case "$1" in
    --temp-dir) temp_dir=$2; shift 2 ;;
    --grace) grace=$2; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

tree() {  # the given pids and all their descendants
  local pid
  for pid in "$@"; do
    echo "$pid"
    tree $(pgrep -P "$pid" || true)
  done
}
ours() { tree $(pgrep -f -- "$temp_dir/" || true) | sort -u; }
pids=$(ours)
if [[ -z "$pids" ]]; then
  echo "no head running under $temp_dir"
  exit 0
fi
alive() {  # those of $pids still running (zombies are gone, only not yet reaped)
  ps -o pid=,stat= -p "$(echo $pids | tr ' ' ,)" 2>/dev/null | awk '$2 !~ /^Z/ {print $1}'
}
kill -TERM $pids 2>/dev/null || true
for _ in $(seq "$grace"); do
  [[ -z "$(alive)" ]] && break
  sleep 1
done
left=$(alive)
[[ -n "$left" ]] && kill -KILL $left 2>/dev/null || true
rm -f "$temp_dir/client.env"
echo "stopped the head under $temp_dir"
