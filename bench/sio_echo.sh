#!/usr/bin/env bash
# Socket.IO: tincan (connection state recovery off) against Node's socket.io 4.8, loaded by
# tcload --sio in the same run. Echo messages/s and server CPU per echo, fan-out deliveries/s
# and server CPU per delivery, and memory per idle connected socket.
# See bench/README.md. Env: DURATION (10, seconds per case), ROUNDS (1), WARMUP (2 s, 0: none),
# IDLE_CONNS (10000), FANOUT_ROOMS ("1000 10000"), SERVERS ("tincan node"),
# TINCAN_BIN (build/tincan), TCLOAD_BIN (build/tcload), TINCAN_ARGS (extra flags for tincan).
set -euo pipefail

BENCH_NAME=sio_echo.sh
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
read -r -a FANOUT_LIST <<<"${FANOUT_ROOMS-1000 10000}"
read -r -a SERVER_LIST <<<"${SERVERS:-tincan node}"
read -r -a TINCAN_EXTRA <<<"${TINCAN_ARGS:-}"


for v in DURATION ROUNDS WARMUP IDLE_CONNS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
((DURATION >= 1 && ROUNDS >= 1 && IDLE_CONNS >= 1)) || die "DURATION, ROUNDS and IDLE_CONNS must be at least 1"
((${#FANOUT_LIST[@]} <= 9)) || die "at most 9 room sizes in FANOUT_ROOMS"
for n in "${FANOUT_LIST[@]}"; do
  if ! [[ "$n" =~ ^[0-9]+$ ]] || ((n < 1)); then
    die "FANOUT_ROOMS holds room sizes of at least 1, not '$n'"
  fi
done
for s in "${SERVER_LIST[@]}"; do
  [[ "$s" =~ ^(tincan|node)$ ]] || die "unknown server '$s' in SERVERS (known: tincan node)"
done

PY=/usr/bin/python3
[[ -x "$PY" ]] || PY="$(command -v python3 || true)"
[[ -n "$PY" ]] || die "python3 is missing"
for tool in taskset node getconf; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is missing (scripts/deps.sh bench installs it)"
done
[[ -x "$BIN" ]] || die "no tincan binary at $BIN (run make first)"
[[ -x "$TCLOAD" ]] || die "no tcload binary at $TCLOAD (run make first)"
for m in socket.io socket.io-client; do
  [[ -f "$root/node_modules/$m/package.json" ]] || die "no node_modules/$m (scripts/deps.sh runs npm ci)"
done
tcload_help="$("$TCLOAD" --help 2>&1 || true)"
[[ "$tcload_help" == *--sio* ]] || die "$TCLOAD has no --sio mode (rebuild it)"

# The fan-out cases need tcload's --fanout mode; without it they are skipped, and said so.
fanout_skip=""
if ((${#FANOUT_LIST[@]} > 0)) && [[ "$tcload_help" != *--fanout* ]]; then
  fanout_skip="tcload has no --fanout mode ($TCLOAD --help does not mention it); rebuild it once it does"
  FANOUT_LIST=()
fi

bench_pin_cpus "servers and tcload"

# ---- limits ----------------------------------------------------------------------------------

# Every connection is one descriptor in the server and one in tcload.
max_conns=$IDLE_CONNS
for n in "${FANOUT_LIST[@]}"; do ((n + 1 > max_conns)) && max_conns=$((n + 1)); done
bench_raise_fd_limit "$max_conns"
read -r port_lo port_hi </proc/sys/net/ipv4/ip_local_port_range
((port_hi - port_lo + 1 >= max_conns + 1000)) ||
  die "ephemeral port range $port_lo-$port_hi is too small for $max_conns connections (sysctl net.ipv4.ip_local_port_range)"
somaxconn="$(cat /proc/sys/net/core/somaxconn)"
((somaxconn >= IDLE_RAMP)) ||
  echo "warning: net.core.somaxconn is $somaxconn, below the $IDLE_RAMP handshakes tcload keeps under way" >&2

clk_tck="$(getconf CLK_TCK)"

# ---- set-up ----------------------------------------------------------------------------------

bench_scratch siobench

results="$tmp/results.tsv"
: >"$results"
problems=0

now_us() { echo "${EPOCHREALTIME/./}"; }

# start_server NAME: sets srv_pid and srv_port, or writes why it could not to its log and returns 1.
start_server() {
  local name="$1" log="$tmp/$1.log" p
  srv_pid=""
  srv_port=""
  p="$(free_port)" || {
    echo "no free port" >"$log"
    return 1
  }
  case "$name" in
    tincan)
      taskset -c "$server_cpu" "$BIN" --no-recovery --log-level warn --port "$p" \
        "${TINCAN_EXTRA[@]}" </dev/null >"$log" 2>&1 &
      ;;
    node)
      taskset -c "$server_cpu" node "$root/bench/sio_echo_node.mjs" "$p" </dev/null >"$log" 2>&1 &
      ;;
  esac
  srv_pid=$!
  wait_listening "$p" "$log"
}

# Content check before any load, with the real client: echo gives back several arguments of
# several JSON types unchanged, and a fan-out reaches a socket that joined the room.
sio_check() { # port
  node - "$root" "$1" <<'EOF'
const [root, port] = process.argv.slice(2);
const { io } = require(`${root}/node_modules/socket.io-client`);
const fail = (why) => { console.error(why); process.exit(1); };
setTimeout(() => fail('no answer within 5 s'), 5000);
const s = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false });
const args = ['h\u00e9llo \u2713', 42, { a: [1, null, true], b: 'x'.repeat(3000) }, ''];
s.on('connect_error', (e) => fail(`connect: ${e.message}`));
s.on('connect', () => s.emit('echo', ...args));
s.on('echo', (...got) => {
  if (JSON.stringify(got) !== JSON.stringify(args)) fail(`echo: got ${JSON.stringify(got).slice(0, 200)}`);
  s.emit('bench:join');
  s.emit('bench:fanout', 'to the room', 7);
});
s.on('bench:msg', (...got) => {
  if (JSON.stringify(got) !== '["to the room",7]') fail(`fan-out: got ${JSON.stringify(got).slice(0, 200)}`);
  s.close();
  process.exit(0);
});
EOF
}

# Cases: i idle; a, b echo; f1..f9 fan-out to FANOUT_LIST[0..8]. The idle case goes first, on a
# fresh server: after thousands of sockets have come and gone, new ones reuse freed memory and
# RSS would hardly grow.
case_list() {
  local list=(i a b) k
  for k in "${!FANOUT_LIST[@]}"; do list+=("f$((k + 1))"); done
  echo "${list[@]}"
}
case_want() { # connections tcload should hold
  case "$1" in
    a | b) echo 100 ;;
    f*) echo $((FANOUT_LIST[${1#f} - 1] + 1)) ;;
    i) echo "$IDLE_CONNS" ;;
  esac
}
case_args() {
  case "$1" in
    a) echo "--sio -c 100 -k 1 -s 32" ;;
    b) echo "--sio -c 100 -k 16 -s 32" ;;
    f*) echo "--sio --fanout -c $(case_want "$1")" ;;
    i) echo "--sio --idle -c $IDLE_CONNS --ramp $IDLE_RAMP" ;;
  esac
}

# record ROUND SERVER CASE USER_TICKS SYS_TICKS RSS_BEFORE_KB RSS_AFTER_KB WINDOW_US STATUS JSON
record() {
  local IFS=$'\t'
  echo "$*" >>"$results"
}

# wait_conns N FD0: until the server holds N more descriptors than FD0, or tcload ends (60 s at most).
wait_conns() {
  for _ in $(seq 1 300); do
    (($(fd_count "$srv_pid") - $2 >= $1)) && return 0
    kill -0 "$load_pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

# run_case ROUND SERVER CASE: one tcload run; returns 1 if the server died.
run_case() {
  local r="$1" name="$2" c="$3" url="ws://127.0.0.1:$srv_port" out="$tmp/tcload.out"
  local args want u0 s0 u1 s1 t0=0 t1=0 rss0=0 rss1=0 status=ok rc=0 fd0 settle window
  read -r -a args <<<"$(case_args "$c")"
  want="$(case_want "$c")"
  fd0="$(fd_count "$srv_pid")"
  [[ "$c" == i ]] && rss0="$(vm_rss_kb "$srv_pid")"
  read -r u0 s0 <<<"$(cpu_ticks "$srv_pid")"
  u1=$u0 s1=$s0
  taskset -c "$client_cpu" "$TCLOAD" "${args[@]}" -d "$DURATION" "$url" \
    >"$out" 2>"$tmp/tcload.err" &
  load_pid=$!
  if [[ "$c" == i ]]; then
    # Read the memory once the server holds every connection (and a moment for the last
    # namespace handshakes), while tcload still holds them.
    wait_conns "$want" "$fd0" || true
    settle=$((DURATION >= 4 ? 2 : 1))
    ((DURATION >= 2)) || settle=0.5
    sleep "$settle"
    if kill -0 "$load_pid" 2>/dev/null && kill -0 "$srv_pid" 2>/dev/null; then
      rss1="$(vm_rss_kb "$srv_pid")"
    else
      status="tcload ended before all connections were up"
    fi
  elif [[ "$c" == f* ]]; then
    # Setting up thousands of sockets would weigh on CPU per delivery; so the CPU is read over
    # a window inside the steady flow instead: from a moment after every socket is up to a
    # moment before tcload's D seconds end, and divided by that window's length.
    if wait_conns "$want" "$fd0"; then
      settle=$((DURATION >= 4 ? 10 : 3))         # tenths of a second
      window=$((DURATION * 10 - settle - 5))     # ends 0.5 s before tcload stops sending
      ((window >= 2)) || window=2
      sleep "$((settle / 10)).$((settle % 10))"
      read -r u0 s0 <<<"$(cpu_ticks "$srv_pid")"
      t0="$(now_us)"
      sleep "$((window / 10)).$((window % 10))"
      if kill -0 "$srv_pid" 2>/dev/null; then
        read -r u1 s1 <<<"$(cpu_ticks "$srv_pid")"
        t1="$(now_us)"
      fi
      kill -0 "$load_pid" 2>/dev/null || status="tcload ended inside the CPU window"
    else
      status="tcload ended before all connections were up"
    fi
  fi
  wait "$load_pid" && rc=0 || rc=$?
  load_pid=""
  if ! kill -0 "$srv_pid" 2>/dev/null; then
    record "$r" "$name" "$c" 0 0 0 0 0 "server died" "{}"
    return 1
  fi
  [[ "$c" == f* ]] || read -r u1 s1 <<<"$(cpu_ticks "$srv_pid")"
  [[ "$rc" == 0 ]] || status="tcload exit $rc: $(head -c 200 "$tmp/tcload.err" | tr '\t\n' '  ')"
  json="$(grep -E '^\{' "$out" | tail -n1 || true)"
  [[ -n "$json" ]] || json="{}"
  record "$r" "$name" "$c" "$((u1 - u0))" "$((s1 - s0))" "$rss0" "$rss1" "$((t1 - t0))" "$status" "$json"
  return 0
}

# ---- report (python3 reads the records) ------------------------------------------------------

report() { # MODE: "last" prints the newest record as one progress line; "all" the full table
  "$PY" - "$1" "$results" "$clk_tck" "$IDLE_CONNS" "${FANOUT_LIST[*]}" "$fanout_skip" <<'EOF'
import json, statistics, sys

mode, path, clk, idle_n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rooms = [int(x) for x in sys.argv[5].split()]
fanout_skip = sys.argv[6]
CASES = {"a": "(a) echo 100 x 1, 32 B", "b": "(b) echo 100 x 16, 32 B"}
WANT = {"a": 100, "b": 100, "i": idle_n}
for k, n in enumerate(rooms):
    CASES[f"f{k + 1}"] = f"(f) fan-out to {n}"
    WANT[f"f{k + 1}"] = n + 1
CASES["i"] = f"(i) {idle_n} idle sockets"
ABS_TARGET = {"b": 2.3, "i": 1536.0}  # us per echo; bytes per idle socket (1.5 KiB)

def parse(line):
    f = line.rstrip("\n").split("\t")
    rec = {"round": int(f[0]), "server": f[1], "case": f[2], "uticks": int(f[3]),
           "sticks": int(f[4]), "rss0": int(f[5]) * 1024, "rss1": int(f[6]) * 1024,
           "window": int(f[7]) / 1e6, "status": f[8]}
    try:
        j = json.loads(f[9])
    except (ValueError, IndexError):
        j = {}
    j = j if isinstance(j, dict) else {}
    c = rec["case"]
    if rec["status"] != "ok":
        return rec
    conns = j.get("connected")
    if j.get("errors", 0) or j.get("failed", 0) or (conns is not None and conns < WANT[c]):
        rec["status"] = (f"errors {j.get('errors')}, failed {j.get('failed')}, "
                         f"connected {conns}/{WANT[c]}")
        return rec
    cpu_s = (rec["uticks"] + rec["sticks"]) / clk
    if c == "i":
        if conns is None:
            rec["status"] = "no result from tcload"
        rec["per_conn"] = (rec["rss1"] - rec["rss0"]) / idle_n
        rec["cpu"] = cpu_s * 1e6 / idle_n
    elif c.startswith("f"):
        rate = j.get("deliveries_per_sec")
        if not rate or rec["window"] <= 0:
            rec["status"] = "no deliveries_per_sec from tcload"
            return rec
        rec["rate"] = rate
        rec["cpu"] = cpu_s / rec["window"] * 1e6 / rate
        rec["busy"] = cpu_s / rec["window"]
    else:
        msgs = j.get("messages")
        if not msgs:
            rec["status"] = "no messages echoed"
            return rec
        rec["rate"] = j.get("msgs_per_sec", 0)
        rec["cpu"] = cpu_s * 1e6 / msgs
        rec["p50"], rec["p99"] = j.get("p50_us", 0), j.get("p99_us", 0)
    return rec

with open(path) as fh:
    recs = [parse(line) for line in fh if line.strip()]

def short(r):
    if r["status"] != "ok":
        return f"FAILED: {r['status']}"
    c = r["case"]
    if c == "i":
        return (f"{r['per_conn']:8.0f} B/socket (rss {r['rss0'] / 2**20:.1f} -> "
                f"{r['rss1'] / 2**20:.1f} MiB), {r['cpu']:.1f} us cpu/socket")
    if c.startswith("f"):
        return (f"{r['rate']:9.0f} deliveries/s {r['cpu']:7.3f} us cpu/delivery "
                f"(server busy {100 * r['busy']:.0f}%)")
    return f"{r['rate']:9.0f} msgs/s {r['cpu']:7.2f} us cpu/echo  p50 {r['p50']} us  p99 {r['p99']} us"

if mode == "last":
    r = recs[-1]
    print(f"round {r['round']}  {r['server']:<6}  {CASES[r['case']]:<26} {short(r)}", flush=True)
    sys.exit(0)

servers = []
for r in recs:
    if r["server"] not in servers:
        servers.append(r["server"])

def med(case, server, key):
    vals = [r[key] for r in recs if r["case"] == case and r["server"] == server
            and r["status"] == "ok" and key in r]
    return statistics.median(vals) if vals else None

def fmt(v, spec, width=0):
    return f"{'-':>{width}}" if v is None else f"{v:{width}{spec}}"

print()
print(f"{'case':<28} {'server':<7} {'per second':>11} {'server cpu':>16} {'p50 us':>7} {'p99 us':>7}")
for c in CASES:
    if c == "i":
        continue
    unit = "us/delivery" if c.startswith("f") else "us/echo"
    for s in servers:
        print(f"{CASES[c]:<28} {s:<7} {fmt(med(c, s, 'rate'), '.0f', 11)} "
              f"{fmt(med(c, s, 'cpu'), '.3f', 8)} {unit:<7} "
              f"{fmt(med(c, s, 'p50'), '.0f', 7)} {fmt(med(c, s, 'p99'), '.0f', 7)}")
if fanout_skip:
    print(f"{'(f) fan-out':<28} skipped: {fanout_skip}")
print(f"{'case':<28} {'server':<7} {'rss before':>11} {'rss after':>11} {'B/socket':>9} "
      f"{'cpu us/socket':>14}")
mib = lambda v: None if v is None else v / 2**20
for s in servers:
    print(f"{CASES['i']:<28} {s:<7} {fmt(mib(med('i', s, 'rss0')), '.1f', 7)} MiB "
          f"{fmt(mib(med('i', s, 'rss1')), '.1f', 7)} MiB "
          f"{fmt(med('i', s, 'per_conn'), '.0f', 9)} {fmt(med('i', s, 'cpu'), '.1f', 14)}")

bad = [r for r in recs if r["status"] != "ok"]
if bad:
    print()
    for r in bad:
        print(f"FAILED round {r['round']} {r['server']} {CASES[r['case']]}: {r['status']}")

# Targets: on every cost figure tincan spends at most a tenth of what Node does, and at most
# 2.3 us of CPU per echo at 16 in flight and 1.5 KiB per idle socket.
print()
print("targets for tincan: node/tincan >= 10x on every cost figure (cpu per echo, cpu per "
      "delivery, memory per socket); (b) <= 2.3 us cpu/echo; (i) <= 1.5 KiB per idle socket")
misses = 0
for c in CASES:
    key, unit, spec = ("per_conn", "B/socket", ".0f") if c == "i" else (
        ("cpu", "us cpu/delivery", ".3f") if c.startswith("f") else ("cpu", "us cpu/echo", ".2f"))
    t, o = med(c, "tincan", key), med(c, "node", key)
    line = f"sio {CASES[c]}: tincan {fmt(t, spec)} {unit}, node {fmt(o, spec)}"
    verdicts = []
    if t is not None and o is not None and t > 0:
        ok = o / t >= 10
        misses += not ok
        verdicts.append(f"node/tincan {o / t:.1f}x ({'meets' if ok else 'MISSES'} >= 10x)")
    else:
        misses += 1
        verdicts.append("node/tincan: no result")
    if c in ABS_TARGET:
        ok = t is not None and t <= ABS_TARGET[c]
        misses += not ok
        verdicts.append(f"{'meets' if ok else 'MISSES'} <= {ABS_TARGET[c]:g}")
    if c != "i":
        tr, orate = med(c, "tincan", "rate"), med(c, "node", "rate")
        if tr and orate:
            verdicts.append(f"rate tincan/node {tr / orate:.2f}x")
    print(f"{line}; " + "; ".join(verdicts))
if fanout_skip:
    print(f"sio (f) fan-out: SKIPPED, {fanout_skip}")
print(f"targets missed: {misses}" if misses else "all targets met")
sys.exit(1 if bad else 0)
EOF
}

# ---- measure ---------------------------------------------------------------------------------

echo "socket.io: tincan $BIN --no-recovery, node $(node --version) socket.io $(node -p "require('$root/node_modules/socket.io/package.json').version")"
echo "servers on CPU $server_cpu, tcload on CPU $client_cpu, $DURATION s per case, $ROUNDS round(s), warm-up ${WARMUP} s, open file limit $(ulimit -n)"
[[ -z "$fanout_skip" ]] || echo "fan-out cases SKIPPED: $fanout_skip" >&2

read -r -a CASE_LIST <<<"$(case_list)"
n_servers=${#SERVER_LIST[@]}
for r in $(seq 1 "$ROUNDS"); do
  # A different server goes first each round, so slow drifts in the machine spread evenly.
  for i in $(seq 0 $((n_servers - 1))); do
    name="${SERVER_LIST[$(((i + r - 1) % n_servers))]}"
    if ! start_server "$name"; then
      echo "round $r  $name: FAILED TO START:" >&2
      sed 's/^/  /' "$tmp/$name.log" >&2
      for c in "${CASE_LIST[@]}"; do record "$r" "$name" "$c" 0 0 0 0 0 "failed to start" "{}"; done
      problems=1
      continue
    fi
    if ! sio_check "$srv_port" 2>"$tmp/check.err"; then
      echo "round $r  $name: WRONG ANSWER: $(tail -n 3 "$tmp/check.err" | tr '\n' ' ')" >&2
      for c in "${CASE_LIST[@]}"; do record "$r" "$name" "$c" 0 0 0 0 0 "wrong answer" "{}"; done
      problems=1
      stop "$srv_pid"
      srv_pid=""
      continue
    fi
    for c in "${CASE_LIST[@]}"; do
      if [[ "$c" == a ]] && ((WARMUP > 0)); then
        read -r -a wargs <<<"$(case_args a)"
        taskset -c "$client_cpu" "$TCLOAD" -q "${wargs[@]}" -d "$WARMUP" \
          "ws://127.0.0.1:$srv_port" >/dev/null 2>&1 || true
      fi
      if ! run_case "$r" "$name" "$c"; then
        echo "round $r  $name: DIED during $c:" >&2
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
