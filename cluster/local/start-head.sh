#!/usr/bin/env bash
# Start a Ray head on this machine for trying raydapt's cluster path: bound to loopback
# (dashboard included), token authentication on, resources set by flags. Run it from an
# environment where raydapt is installed (the head runs the jobs' drivers and workers).
#
#   cluster/local/start-head.sh [--cpus N] [--gpus N] [--port 6379] [--dashboard-port 8265]
#                               [--temp-dir /tmp/raydapt-head] [--token-file ~/.ray/auth_token]
#                               [--agent-ports 52365]
#
# Then point clients at it:  source <temp-dir>/client.env   (RAY_ADDRESS, RAY_AUTH_MODE,
# RAY_AUTH_TOKEN_PATH), and stop it with cluster/local/stop-head.sh --temp-dir <temp-dir>.
set -euo pipefail

cpus=$(nproc)
gpus=0
port=6379
dashboard_port=8265
temp_dir=/tmp/raydapt-head
token_file="${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}"
# First of five consecutive ports for the dashboard agent (HTTP, gRPC), metrics export,
# the runtime-env agent and the Ray client server. Ray's defaults collide with another
# Ray instance on the same machine, so a second head needs other ones.
agent_ports=52365

while [[ $# -gt 0 ]]; do
  case "$1" in
    --cpus) cpus=$2; shift 2 ;;
    --gpus) gpus=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --dashboard-port) dashboard_port=$2; shift 2 ;;
    --temp-dir) temp_dir=$2; shift 2 ;;
    --token-file) token_file=$2; shift 2 ;;
    --agent-ports) agent_ports=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [[ ! -s "$token_file" ]]; then
  # A new random token, readable by its owner only; clients on this machine use the file.
  mkdir -p "$(dirname "$token_file")"
  (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' > "$token_file")
  echo "wrote a new token to $token_file"
fi

export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="$token_file"
mkdir -p "$temp_dir"
ray start --head --disable-usage-stats \
  --node-ip-address=127.0.0.1 --port="$port" \
  --dashboard-host=127.0.0.1 --dashboard-port="$dashboard_port" \
  --num-cpus="$cpus" --num-gpus="$gpus" --temp-dir="$temp_dir" \
  --dashboard-agent-listen-port="$agent_ports" \
  --dashboard-agent-grpc-port="$((agent_ports + 1))" \
  --metrics-export-port="$((agent_ports + 2))" \
  --runtime-env-agent-port="$((agent_ports + 3))" \
  --ray-client-server-port="$((agent_ports + 4))"

cat > "$temp_dir/client.env" <<ENV
export RAY_ADDRESS=http://127.0.0.1:$dashboard_port
export RAY_AUTH_MODE=token
export RAY_AUTH_TOKEN_PATH=$token_file
ENV
echo "head up: dashboard and job API on http://127.0.0.1:$dashboard_port (loopback only)"
echo "clients: source $temp_dir/client.env"
