#!/usr/bin/env bash
# WebSocket echo: tincan against Node's `ws` and libwebsockets, loaded by tcload in the same run.
# Reports messages/s and server CPU time per echoed message, and memory per idle connection.
# See bench/README.md. Env: DURATION (10, seconds per case), ROUNDS (1), WARMUP (2 s, 0: none),
# IDLE_CONNS (10000), SERVERS ("tincan node lws"), TINCAN_BIN (build/tincan),
# TCLOAD_BIN (build/tcload), TINCAN_ARGS (extra flags for tincan).
set -euo pipefail

BENCH_NAME=ws_echo.sh
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${TINCAN_BIN:-$root/build/tincan}"
TCLOAD="${TCLOAD_BIN:-$root/build/tcload}"
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-1}"
WARMUP="${WARMUP:-2}"
IDLE_CONNS="${IDLE_CONNS:-10000}"
IDLE_RAMP=500
read -r -a SERVER_LIST <<<"${SERVERS:-tincan node lws}"
read -r -a TINCAN_EXTRA <<<"${TINCAN_ARGS:-}"


for v in DURATION ROUNDS WARMUP IDLE_CONNS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
((DURATION >= 1 && ROUNDS >= 1 && IDLE_CONNS >= 1)) || die "DURATION, ROUNDS and IDLE_CONNS must be at least 1"
for s in "${SERVER_LIST[@]}"; do
  [[ "$s" =~ ^(tincan|node|lws)$ ]] || die "unknown server '$s' in SERVERS (known: tincan node lws)"
done

# Debian's python3 has python3-websockets; a python3 from elsewhere earlier in PATH may not.
PY=/usr/bin/python3
[[ -x "$PY" ]] || PY="$(command -v python3 || true)"
[[ -n "$PY" ]] || die "python3 is missing"
"$PY" -c 'import websockets' 2>/dev/null || die "python3-websockets is missing (scripts/deps.sh installs it)"
for tool in taskset node cc pkg-config getconf; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is missing (scripts/deps.sh bench installs it)"
done
[[ -x "$BIN" ]] || die "no tincan binary at $BIN (run make first)"
[[ -x "$TCLOAD" ]] || die "no tcload binary at $TCLOAD (run make first)"
[[ -f "$root/node_modules/ws/package.json" ]] || die "no node_modules/ws (scripts/deps.sh runs npm ci)"
pkg-config --exists libwebsockets || die "libwebsockets-dev is missing (scripts/deps.sh bench installs it)"

bench_pin_cpus "servers and tcload"

# ---- limits for the idle case ----------------------------------------------------------------

# Every idle connection is one descriptor in the server and one in tcload.
bench_raise_fd_limit "$IDLE_CONNS"
read -r port_lo port_hi </proc/sys/net/ipv4/ip_local_port_range
# All idle connections come from one address to one port, so each needs its own ephemeral port.
((port_hi - port_lo + 1 >= IDLE_CONNS + 1000)) ||
  die "ephemeral port range $port_lo-$port_hi is too small for $IDLE_CONNS connections (sysctl net.ipv4.ip_local_port_range)"
somaxconn="$(cat /proc/sys/net/core/somaxconn)"
((somaxconn >= IDLE_RAMP)) ||
  echo "warning: net.core.somaxconn is $somaxconn, below the $IDLE_RAMP handshakes tcload keeps under way" >&2

clk_tck="$(getconf CLK_TCK)"

# ---- set-up ----------------------------------------------------------------------------------

bench_scratch wsbench

mkdir -p "$tmp/web"
results="$tmp/results.tsv"
: >"$results"
problems=0

lws_bin="$tmp/lws_echo"
lws_build_error=""
# shellcheck disable=SC2046 # pkg-config's flags are meant to split
if ! cc -O2 -o "$lws_bin" "$root/bench/lws_echo.c" $(pkg-config --cflags --libs libwebsockets) \
  2>"$tmp/lws_build.log"; then
  lws_build_error="$(head -n 20 "$tmp/lws_build.log")"
fi


# start_server NAME: sets srv_pid and srv_port, or prints why it could not and returns 1.
start_server() {
  local name="$1" log="$tmp/$1.log" p=""
  srv_pid=""
  srv_port=""
  case "$name" in
    tincan)
      # At warn level tincan does not print its port, so it gets one picked here.
      p="$(free_port)" || { echo "no free port for tincan" >"$log"; return 1; }
      taskset -c "$server_cpu" "$BIN" --host 127.0.0.1 --port "$p" --web "$tmp/web" \
        --log-level warn "${TINCAN_EXTRA[@]}" </dev/null >"$log" 2>&1 &
      ;;
    node)
      taskset -c "$server_cpu" node "$root/bench/ws_echo_node.mjs" 0 </dev/null >"$log" 2>&1 &
      ;;
    lws)
      if [[ -n "$lws_build_error" ]]; then
        printf 'bench/lws_echo.c did not compile:\n%s\n' "$lws_build_error" >"$log"
        return 1
      fi
      taskset -c "$server_cpu" "$lws_bin" 0 </dev/null >"$log" 2>&1 &
      ;;
  esac
  srv_pid=$!
  wait_listening "$p" "$log"
}

# Content check before any load: tcload only checks sizes and types, so this makes sure each
# server sends back the same bytes, as the same type, in order, whole when sent in fragments.
echo_check() { # port
  "$PY" - "$1" <<'EOF'
import asyncio, os, sys
import websockets

async def main(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/echo", compression=None,
                                  max_size=None, open_timeout=5) as ws:
        sent = ["h\u00e9llo \u2713", b"", os.urandom(70000), "x" * 3000]
        sent += [f"pipelined {i}" for i in range(16)] + [bytes([i]) * 200 for i in range(4)]
        for m in sent:
            await ws.send(m)
        await ws.send(iter(["frag", "men", "ted"]))
        sent.append("fragmented")
        for i, want in enumerate(sent):
            got = await asyncio.wait_for(ws.recv(), 5)
            if type(got) is not type(want) or got != want:
                sys.exit(f"message {i}: sent {type(want).__name__} of {len(want)}, "
                         f"got {type(got).__name__} of {len(got)}")

asyncio.run(main(int(sys.argv[1])))
EOF
}

# tcload arguments per case; (d) is the idle case and its count comes from IDLE_CONNS.
case_args() {
  case "$1" in
    a) echo "-c 100 -k 1 -s 32" ;;
    b) echo "-c 100 -k 16 -s 32" ;;
    c) echo "-c 10 -k 1 -s 65536 -b" ;;
    d) echo "--idle -c $IDLE_CONNS --ramp $IDLE_RAMP" ;;
  esac
}

# record ROUND SERVER CASE USER_TICKS SYS_TICKS RSS_BEFORE_KB RSS_AFTER_KB STATUS JSON
record() {
  local IFS=$'\t'
  echo "$*" >>"$results"
}

# run_case ROUND SERVER CASE: one tcload run; returns 1 if the server died.
run_case() {
  local r="$1" name="$2" c="$3" url="ws://127.0.0.1:$srv_port/echo" out="$tmp/tcload.out"
  local args u0 s0 u1 s1 rss0=0 rss1=0 status=ok rc=0 fd0 settle
  read -r -a args <<<"$(case_args "$c")"
  [[ "$c" == d ]] && rss0="$(vm_rss_kb "$srv_pid")" && fd0="$(fd_count "$srv_pid")"
  read -r u0 s0 <<<"$(cpu_ticks "$srv_pid")"
  # In the background even when nothing else runs meanwhile: `wait` lets the INT/TERM trap in.
  taskset -c "$client_cpu" "$TCLOAD" "${args[@]}" -d "$DURATION" "$url" \
    >"$out" 2>"$tmp/tcload.err" &
  load_pid=$!
  if [[ "$c" == d ]]; then
    # All accepted once the server holds IDLE_CONNS more descriptors; then give the last
    # handshakes a moment and read the memory while tcload still holds every connection.
    for _ in $(seq 1 300); do
      (($(fd_count "$srv_pid") - fd0 >= IDLE_CONNS)) && break
      kill -0 "$load_pid" 2>/dev/null || break
      sleep 0.2
    done
    settle=$((DURATION >= 4 ? 2 : 1))
    ((DURATION >= 2)) || settle=0.5
    sleep "$settle"
    if kill -0 "$load_pid" 2>/dev/null && kill -0 "$srv_pid" 2>/dev/null; then
      rss1="$(vm_rss_kb "$srv_pid")"
    else
      status="tcload ended before all connections were up"
    fi
  fi
  wait "$load_pid" && rc=0 || rc=$?
  load_pid=""
  if ! kill -0 "$srv_pid" 2>/dev/null; then
    record "$r" "$name" "$c" 0 0 0 0 "server died" "{}"
    return 1
  fi
  read -r u1 s1 <<<"$(cpu_ticks "$srv_pid")"
  [[ "$rc" == 0 ]] || status="tcload exit $rc: $(head -c 200 "$tmp/tcload.err" | tr '\t\n' '  ')"
  # The last line that looks like JSON; the report parses it.
  json="$(grep -E '^\{' "$out" | tail -n1 || true)"
  [[ -n "$json" ]] || json="{}"
  record "$r" "$name" "$c" "$((u1 - u0))" "$((s1 - s0))" "$rss0" "$rss1" "$status" "$json"
  return 0
}

# ---- report (python3 reads the records) ------------------------------------------------------

report() { # MODE: "last" prints the newest record as one progress line; "all" the full table
  "$PY" - "$1" "$results" "$clk_tck" "$IDLE_CONNS" <<'EOF'
import json, statistics, sys

mode, path, clk, idle_n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
CASES = {
    "a": "(a) 100 conns x 1, 32 B text",
    "b": "(b) 100 conns x 16, 32 B text",
    "c": "(c) 10 conns x 1, 64 KiB binary",
    "d": f"(d) {idle_n} idle conns",
}
WANT = {"a": 100, "b": 100, "c": 10, "d": idle_n}
TARGET = {"a": 5.0, "b": 0.5, "c": 35.0, "d": 1024.0}  # us per message; bytes per connection

def parse(line):
    f = line.rstrip("\n").split("\t")
    rec = {"round": int(f[0]), "server": f[1], "case": f[2], "uticks": int(f[3]),
           "sticks": int(f[4]), "rss0": int(f[5]) * 1024, "rss1": int(f[6]) * 1024,
           "status": f[7]}
    try:
        j = json.loads(f[8])
    except (ValueError, IndexError):
        j = {}
    rec["j"] = j if isinstance(j, dict) else {}
    if rec["status"] != "ok":
        return rec
    msgs, conns = rec["j"].get("messages"), rec["j"].get("connected")
    if msgs is None or conns is None:
        rec["status"] = "no result from tcload"
    elif rec["j"].get("errors", 0) or rec["j"].get("failed", 0) or conns < WANT[rec["case"]]:
        rec["status"] = (f"errors {rec['j'].get('errors')}, failed {rec['j'].get('failed')}, "
                         f"connected {conns}/{WANT[rec['case']]}")
    elif rec["case"] != "d" and not msgs:
        rec["status"] = "no messages echoed"
    cpu_us = (rec["uticks"] + rec["sticks"]) * 1e6 / clk
    usr_us = rec["uticks"] * 1e6 / clk
    if rec["case"] == "d":
        rec["per_conn"] = (rec["rss1"] - rec["rss0"]) / idle_n
        rec["cpu"] = cpu_us / idle_n
    else:
        rec["rate"] = rec["j"].get("msgs_per_sec", 0)
        rec["cpu"] = cpu_us / msgs if msgs else float("inf")
        rec["usr"] = usr_us / msgs if msgs else float("inf")
        rec["p50"], rec["p99"] = rec["j"].get("p50_us", 0), rec["j"].get("p99_us", 0)
    return rec

with open(path) as fh:
    recs = [parse(line) for line in fh if line.strip()]

def short(r):
    if r["status"] != "ok":
        return f"FAILED: {r['status']}"
    if r["case"] == "d":
        return (f"{r['per_conn']:8.0f} B/conn (rss {r['rss0'] / 2**20:.1f} -> "
                f"{r['rss1'] / 2**20:.1f} MiB), {r['cpu']:.1f} us cpu/conn")
    return (f"{r['rate']:8.0f} msg/s {r['cpu']:7.2f} us cpu/msg ({r['usr']:.2f} user)  "
            f"p50 {r['p50']} us  p99 {r['p99']} us")

if mode == "last":
    r = recs[-1]
    print(f"round {r['round']}  {r['server']:<6}  {r['case']}  {short(r)}", flush=True)
    sys.exit(0)

servers = []
for r in recs:
    if r["server"] not in servers:
        servers.append(r["server"])

def med(case, server, key):
    vals = [r[key] for r in recs if r["case"] == case and r["server"] == server and r["status"] == "ok"]
    return statistics.median(vals) if vals else None

def fmt(v, spec, width):
    return f"{'-':>{width}}" if v is None else f"{v:{width}{spec}}"

print()
print("targets for tincan: (a) <= 5 us cpu/msg, (b) <= 0.5 us cpu/msg, (c) <= 35 us cpu/msg, "
      "(d) <= 1 KiB per idle connection")
print(f"{'case':<32} {'server':<7} {'msgs/s':>9} {'cpu us/msg':>11} {'user part':>10} "
      f"{'p50 us':>8} {'p99 us':>8}")
for c in "abc":
    for s in servers:
        print(f"{CASES[c]:<32} {s:<7} {fmt(med(c, s, 'rate'), '.0f', 9)} "
              f"{fmt(med(c, s, 'cpu'), '.2f', 11)} {fmt(med(c, s, 'usr'), '.2f', 10)} "
              f"{fmt(med(c, s, 'p50'), '.0f', 8)} "
              f"{fmt(med(c, s, 'p99'), '.0f', 8)}")
print(f"{'case':<32} {'server':<7} {'rss before':>11} {'rss after':>11} {'B/conn':>9} {'cpu us/conn':>12}")

def mib(v):
    return None if v is None else v / 2**20

for s in servers:
    print(f"{CASES['d']:<32} {s:<7} {fmt(mib(med('d', s, 'rss0')), '.1f', 7)} MiB "
          f"{fmt(mib(med('d', s, 'rss1')), '.1f', 7)} MiB "
          f"{fmt(med('d', s, 'per_conn'), '.0f', 9)} {fmt(med('d', s, 'cpu'), '.1f', 12)}")

bad = [r for r in recs if r["status"] != "ok"]
if bad:
    print()
    for r in bad:
        print(f"FAILED round {r['round']} {r['server']} ({r['case']}): {r['status']}")

print()
others = [s for s in servers if s != "tincan"]
summary = []
for c in "abcd":
    key = "per_conn" if c == "d" else "cpu"
    unit = "B/conn" if c == "d" else "us cpu/msg"
    t = med(c, "tincan", key)
    parts = []
    for s in others:
        o = med(c, s, key)
        if c != "d":
            tr, orate = med(c, "tincan", "rate"), med(c, s, "rate")
            if t and o is not None:
                rr = f", msgs/s {orate / tr:.2f}x" if tr and orate is not None else ""
                print(f"{s}/tincan {CASES[c][:3]} cpu per msg {o / t:.2f}x{rr}")
        elif t and o is not None:
            print(f"{s}/tincan {CASES[c][:3]} memory per idle conn {o / t:.2f}x")
        parts.append(f"{s} {fmt(o, '.0f' if c == 'd' else '.2f', 0)}")
    if t is None:
        verdict = "no result"
    else:
        verdict = "meets" if t <= TARGET[c] else "MISSES"
        verdict += f" target <= {TARGET[c]:g}"
    summary.append(f"ws echo {CASES[c]}: tincan {fmt(t, '.0f' if c == 'd' else '.2f', 0)} {unit} "
                   f"({verdict}); " + ", ".join(parts))
print()
for line in summary:
    print(line)
sys.exit(1 if bad else 0)
EOF
}

# ---- measure ---------------------------------------------------------------------------------

echo "ws echo: tincan $BIN, node $(node --version) ws $(node -p "require('$root/node_modules/ws/package.json').version"), libwebsockets $(pkg-config --modversion libwebsockets)"
echo "servers on CPU $server_cpu, tcload on CPU $client_cpu, $DURATION s per case, $ROUNDS round(s), warm-up ${WARMUP} s, open file limit $(ulimit -n)"

n_servers=${#SERVER_LIST[@]}
for r in $(seq 1 "$ROUNDS"); do
  # A different server goes first each round, so slow drifts in the machine spread evenly.
  for i in $(seq 0 $((n_servers - 1))); do
    name="${SERVER_LIST[$(((i + r - 1) % n_servers))]}"
    if ! start_server "$name"; then
      echo "round $r  $name: FAILED TO START:" >&2
      sed 's/^/  /' "$tmp/$name.log" >&2
      for c in a b c d; do record "$r" "$name" "$c" 0 0 0 0 "failed to start" "{}"; done
      problems=1
      continue
    fi
    if ! echo_check "$srv_port" 2>"$tmp/check.err"; then
      echo "round $r  $name: WRONG ECHO: $(tail -n 3 "$tmp/check.err" | tr '\n' ' ')" >&2
      for c in a b c d; do record "$r" "$name" "$c" 0 0 0 0 "wrong echo" "{}"; done
      problems=1
      stop "$srv_pid"
      srv_pid=""
      continue
    fi
    if ((WARMUP > 0)); then
      read -r -a wargs <<<"$(case_args a)"
      taskset -c "$client_cpu" "$TCLOAD" -q "${wargs[@]}" -d "$WARMUP" \
        "ws://127.0.0.1:$srv_port/echo" >/dev/null 2>&1 || true
    fi
    for c in a b c d; do
      if ! run_case "$r" "$name" "$c"; then
        echo "round $r  $name: DIED during case ($c):" >&2
        sed 's/^/  /' "$tmp/$name.log" >&2
        problems=1
        break
      fi
      report last
    done
    if [[ -s "$tmp/$name.log" ]] && [[ "$name" == tincan ]]; then
      echo "tincan logged:" >&2
      head -n 20 "$tmp/$name.log" | sed 's/^/  /' >&2
    fi
    stop "$srv_pid"
    srv_pid=""
  done
done

report all || problems=1
exit "$problems"
