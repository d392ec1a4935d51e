#!/usr/bin/env bash
# Small-file HTTP throughput: tincan against nginx, measured with wrk in the same run.
# See bench/README.md. Env: BENCH_DURATION (10s), BENCH_CONNS (100), BENCH_THREADS (1),
# BENCH_ROUNDS (3), BENCH_WARMUP (3s), TINCAN_BIN (build/tincan), TINCAN_ARGS (extra flags).
set -euo pipefail

BENCH_NAME=http_wrk.sh
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${TINCAN_BIN:-$root/build/tincan}"
DURATION="${BENCH_DURATION:-10s}"
CONNS="${BENCH_CONNS:-100}"
THREADS="${BENCH_THREADS:-1}"
ROUNDS="${BENCH_ROUNDS:-3}"
WARMUP="${BENCH_WARMUP:-3s}"
read -r -a TINCAN_EXTRA <<<"${TINCAN_ARGS:-}"

for tool in wrk nginx taskset curl; do
  if ! command -v "$tool" >/dev/null 2>&1 && [[ ! -x "/usr/sbin/$tool" ]]; then
    echo "http_wrk.sh: '$tool' is missing (scripts/deps.sh bench installs it)" >&2
    exit 1
  fi
done
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
if [[ ! -x "$BIN" ]]; then
  echo "http_wrk.sh: no tincan binary at $BIN (run make first)" >&2
  exit 1
fi

# The servers share CPU 0 in turn; the load generator gets CPU 1, so neither steals from the other.
bench_pin_cpus "server and wrk"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/tincan-bench.XXXXXX")"
tincan_pid=""
nginx_pid=""
cleanup() {
  stop "$tincan_pid"
  stop "$nginx_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

web="$tmp/web"
mkdir -p "$web" "$tmp/nginx"
cp "$root/bench/data/hello.html" "$web/hello.html"

# ---- tincan ----------------------------------------------------------------------------------

taskset -c "$server_cpu" "$BIN" --host 127.0.0.1 --port 0 --web "$web" "${TINCAN_EXTRA[@]}" \
  </dev/null >/dev/null 2>"$tmp/tincan.log" &
tincan_pid=$!
tincan_port=""
for _ in $(seq 1 200); do
  tincan_port="$(sed -nE 's/.*listening on http:\/\/[^ ,]+:([0-9]+).*/\1/p' "$tmp/tincan.log" | head -n1)"
  [[ -n "$tincan_port" ]] && break
  kill -0 "$tincan_pid" 2>/dev/null || break
  sleep 0.05
done
if [[ -z "$tincan_port" ]]; then
  echo "http_wrk.sh: tincan did not start:" >&2
  cat "$tmp/tincan.log" >&2
  exit 1
fi

# ---- nginx -----------------------------------------------------------------------------------

nginx_port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 30000))
  if port_free "$p"; then
    nginx_port=$p
    break
  fi
done
[[ -n "$nginx_port" ]] || { echo "http_wrk.sh: no free port for nginx" >&2; exit 1; }

user_line=""
# Without it a root master runs its worker as nobody, who cannot read the temp folder.
[[ "$(id -u)" -eq 0 ]] && user_line="user root;"
n="$tmp/nginx"
cat >"$n/nginx.conf" <<EOF
$user_line
worker_processes 1;
daemon off;
pid $n/nginx.pid;
error_log $n/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  server_tokens off;
  client_body_temp_path $n/body;
  proxy_temp_path $n/proxy;
  fastcgi_temp_path $n/fastcgi;
  uwsgi_temp_path $n/uwsgi;
  scgi_temp_path $n/scgi;
  types { text/html html; }
  default_type application/octet-stream;
  charset utf-8;
  server {
    listen 127.0.0.1:$nginx_port;
    root $web;
  }
}
EOF
taskset -c "$server_cpu" "$NGINX" -p "$n" -e "$n/error.log" -c "$n/nginx.conf" \
  </dev/null >/dev/null 2>"$n/stderr.log" &
nginx_pid=$!
for _ in $(seq 1 100); do
  port_free "$nginx_port" || break
  kill -0 "$nginx_pid" 2>/dev/null || break
  sleep 0.05
done
if port_free "$nginx_port"; then
  echo "http_wrk.sh: nginx did not start:" >&2
  cat "$n/stderr.log" "$n/error.log" >&2 2>/dev/null || true
  exit 1
fi

# ---- same answer from both -------------------------------------------------------------------

for name in tincan nginx; do
  port_var="${name}_port"
  url="http://127.0.0.1:${!port_var}/hello.html"
  code="$(curl --noproxy '*' -sS --max-time 5 -o "$tmp/$name.body" -w '%{http_code}' "$url")"
  if [[ "$code" != 200 ]] || ! cmp -s "$tmp/$name.body" "$web/hello.html"; then
    echo "http_wrk.sh: $name answered $code for $url, or a different body" >&2
    exit 1
  fi
done

# ---- measure ---------------------------------------------------------------------------------

# run NAME DURATION: prints requests/s of one wrk run against that server.
run() {
  local port_var="${1}_port" out rps
  out="$(taskset -c "$client_cpu" wrk -t"$THREADS" -c"$CONNS" -d"$2" \
    "http://127.0.0.1:${!port_var}/hello.html" 2>&1)"
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "warning: $1: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | paste -sd ';')" >&2
  fi
  if [[ -z "$rps" ]]; then
    echo "http_wrk.sh: wrk gave no result for $1:" >&2
    echo "$out" >&2
    exit 1
  fi
  printf '%.0f\n' "$rps"
}
median() { sort -n | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.0f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "wrk -t$THREADS -c$CONNS -d$DURATION, servers on CPU $server_cpu, wrk on CPU $client_cpu, $(stat -c %s "$web/hello.html")-byte file"
echo "tincan: $BIN (port $tincan_port); nginx: $("$NGINX" -v 2>&1 | sed 's/.*: //') (port $nginx_port)"
run tincan "$WARMUP" >/dev/null
run nginx "$WARMUP" >/dev/null
tincan_runs=()
nginx_runs=()
for r in $(seq 1 "$ROUNDS"); do
  for name in tincan nginx; do
    rps="$(run "$name" "$DURATION")"
    printf 'round %d  %-6s  %8d req/s\n' "$r" "$name" "$rps"
    if [[ "$name" == tincan ]]; then tincan_runs+=("$rps"); else nginx_runs+=("$rps"); fi
  done
done
# The server may have died under load without wrk noticing much.
for name in tincan nginx; do
  pid_var="${name}_pid"
  kill -0 "${!pid_var}" 2>/dev/null || { echo "http_wrk.sh: $name died during the run" >&2; exit 1; }
done

tincan_med="$(printf '%s\n' "${tincan_runs[@]}" | median)"
nginx_med="$(printf '%s\n' "${nginx_runs[@]}" | median)"
ratio="$(awk -v a="$tincan_med" -v b="$nginx_med" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"
echo "median  tincan ${tincan_med} req/s (runs ${tincan_runs[*]}), nginx ${nginx_med} req/s (runs ${nginx_runs[*]})"
echo "http small file: tincan ${tincan_med} req/s, nginx ${nginx_med} req/s, ratio ${ratio}"
