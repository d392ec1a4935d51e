#!/usr/bin/env bash
# STUN Binding over UDP: tincan's STUN server against coturn's (turnserver --stun-only), loaded
# by bench/stun_load.c in the same run. Reports requests/s and server CPU time per request.
# See bench/README.md. Env: DURATION (10, seconds per run), ROUNDS (3), WARMUP (2 s, 0: none),
# SOCKETS (64), IN_FLIGHT (4), FINGERPRINT (0; 1: requests carry FINGERPRINT),
# SERVERS ("tincan coturn"), TINCAN_BIN (build/tincan), TURNSERVER_BIN (turnserver),
# TINCAN_ARGS (extra flags for tincan).
set -euo pipefail

BENCH_NAME=stun.sh
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${TINCAN_BIN:-$root/build/tincan}"
TURNSERVER="${TURNSERVER_BIN:-$(command -v turnserver || echo /usr/bin/turnserver)}"
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"
WARMUP="${WARMUP:-2}"
SOCKETS="${SOCKETS:-64}"
IN_FLIGHT="${IN_FLIGHT:-4}"
FINGERPRINT="${FINGERPRINT:-0}"
read -r -a SERVER_LIST <<<"${SERVERS:-tincan coturn}"
read -r -a TINCAN_EXTRA <<<"${TINCAN_ARGS:-}"

for v in DURATION ROUNDS WARMUP SOCKETS IN_FLIGHT FINGERPRINT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
((DURATION >= 1 && ROUNDS >= 1 && SOCKETS >= 1)) || die "DURATION, ROUNDS and SOCKETS must be at least 1"
((IN_FLIGHT >= 1 && IN_FLIGHT <= 64)) || die "IN_FLIGHT must be 1..64"
for s in "${SERVER_LIST[@]}"; do
  [[ "$s" =~ ^(tincan|coturn)$ ]] || die "unknown server '$s' in SERVERS (known: tincan coturn)"
done
PY=/usr/bin/python3
[[ -x "$PY" ]] || PY="$(command -v python3 || true)"
[[ -n "$PY" ]] || die "python3 is missing"
for tool in taskset cc pkg-config getconf; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is missing (scripts/deps.sh bench installs it)"
done

# The load generator links the STUN codec of the build it measures.
build_dir="$(dirname "$BIN")"
LIB="$build_dir/libtincan.a"
[[ -f "$LIB" ]] || die "no $LIB to build bench/stun_load.c with (run make first)"

# A missing server is skipped with the reason, and the other one still runs alone.
present=()
for s in "${SERVER_LIST[@]}"; do
  case "$s" in
    tincan) [[ -x "$BIN" ]] || { echo "$BENCH_NAME: SKIPPING tincan: no binary at $BIN (run make first)" >&2; continue; } ;;
    coturn) [[ -x "$TURNSERVER" ]] || { echo "$BENCH_NAME: SKIPPING coturn: no turnserver at $TURNSERVER (scripts/deps.sh installs coturn)" >&2; continue; } ;;
  esac
  present+=("$s")
done
((${#present[@]})) || die "no server to measure"
SERVER_LIST=("${present[@]}")

bench_pin_cpus "servers and stun_load"
bench_raise_fd_limit "$SOCKETS"
clk_tck="$(getconf CLK_TCK)"

# ---- set-up ----------------------------------------------------------------------------------

bench_scratch stunbench

results="$tmp/results.tsv"
: >"$results"
problems=0

LOAD="$build_dir/stun_load"
# shellcheck disable=SC2046 # pkg-config's flags are meant to split
cc -std=c11 -D_GNU_SOURCE -O2 -I"$root/include" $(pkg-config --cflags libuv) \
  -o "$LOAD" "$root/bench/stun_load.c" "$LIB" $(pkg-config --libs libuv openssl zlib) \
  2>"$tmp/load_build.log" ||
  die "bench/stun_load.c did not compile: $(head -n 20 "$tmp/load_build.log")"
load_flags=(-c "$SOCKETS" -k "$IN_FLIGHT")
((FINGERPRINT)) && load_flags+=(-f)

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
      taskset -c "$server_cpu" "$BIN" --host 127.0.0.1 --port 0 --stun-port "$p" \
        --log-level warn "${TINCAN_EXTRA[@]}" </dev/null >"$log" 2>&1 &
      ;;
    coturn)
      # STUN only, in the foreground, with no configuration file (-n), no CLI, TLS or DTLS, and
      # -m 0: one event loop serves the listeners and the sessions (its authentication and admin
      # threads stay idle under STUN). Its database and pid file live in the temporary folder.
      taskset -c "$server_cpu" "$TURNSERVER" -n --stun-only -m 0 --listening-ip 127.0.0.1 \
        --listening-port "$p" --no-cli --no-tls --no-dtls --no-rfc5780 --log-file stdout \
        --simple-log --pidfile "$tmp/turnserver.pid" --userdb "$tmp/turndb" \
        </dev/null >"$log" 2>&1 &
      ;;
  esac
  srv_pid=$!
  # Both serve TCP on the same port as UDP; once it accepts, the UDP check below follows.
  wait_listening "$p" "$log"
}

# Before any load: a few requests from one socket, with and without FINGERPRINT, must all get
# a well-formed answer with the right XOR-MAPPED-ADDRESS. Tried a few times while the server
# may still be opening its UDP socket.
stun_check() { # port
  local out fp
  local -a extra
  for fp in 0 1; do
    extra=()
    ((fp)) && extra=(-f)
    for _ in 1 2 3 4 5; do
      out="$(taskset -c "$client_cpu" "$LOAD" -c 2 -k 2 -d 0.3 "${extra[@]}" 127.0.0.1 "$1" 2>&1 ||
        true)"
      "$PY" -c 'import json,sys; j=json.loads(sys.argv[1]); sys.exit(not (j["answers"] > 0
        and j["bad"] == 0 and j["late"] == 0))' "$out" 2>/dev/null && continue 2
      sleep 0.3
    done
    echo "check$( ((fp)) && echo ' with FINGERPRINT'): $out"
    return 1
  done
}

# record ROUND SERVER USER_TICKS SYS_TICKS STATUS JSON
record() {
  local IFS=$'\t'
  echo "$*" >>"$results"
}

# run_load ROUND SERVER: one measured stun_load run; returns 1 if the server died.
run_load() {
  local r="$1" name="$2" out="$tmp/load.out" u0 s0 u1 s1 rc=0 status=ok json
  read -r u0 s0 <<<"$(cpu_ticks "$srv_pid")"
  # In the background, so that `wait` lets the INT/TERM trap in.
  taskset -c "$client_cpu" "$LOAD" "${load_flags[@]}" -d "$DURATION" 127.0.0.1 "$srv_port" \
    >"$out" 2>"$tmp/load.err" &
  load_pid=$!
  wait "$load_pid" && rc=0 || rc=$?
  load_pid=""
  if ! kill -0 "$srv_pid" 2>/dev/null; then
    record "$r" "$name" 0 0 "server died" "{}"
    return 1
  fi
  read -r u1 s1 <<<"$(cpu_ticks "$srv_pid")"
  [[ "$rc" == 0 ]] || status="stun_load exit $rc: $(head -c 200 "$tmp/load.err" | tr '\t\n' '  ')"
  json="$(grep -E '^\{' "$out" | tail -n1 || true)"
  [[ -n "$json" ]] || json="{}"
  record "$r" "$name" "$((u1 - u0))" "$((s1 - s0))" "$status" "$json"
}

# ---- report (python3 reads the records) ------------------------------------------------------

report() { # MODE: "last" prints the newest record as one progress line; "all" the summary
  "$PY" - "$1" "$results" "$clk_tck" <<'EOF'
import json, statistics, sys

mode, path, clk = sys.argv[1], sys.argv[2], int(sys.argv[3])

def parse(line):
    f = line.rstrip("\n").split("\t")
    rec = {"round": int(f[0]), "server": f[1], "uticks": int(f[2]), "sticks": int(f[3]),
           "status": f[4]}
    try:
        j = json.loads(f[5])
    except (ValueError, IndexError):
        j = {}
    j = j if isinstance(j, dict) else {}
    rec["j"] = j
    if rec["status"] != "ok":
        return rec
    answers = j.get("answers")
    if answers is None:
        rec["status"] = "no result from stun_load"
    elif j.get("bad", 0):
        rec["status"] = f"{j['bad']} bad answers"
    elif not answers:
        rec["status"] = "no answers"
    if rec["status"] != "ok":
        return rec
    cpu_s = (rec["uticks"] + rec["sticks"]) / clk
    rec["rate"] = j.get("req_per_sec", 0)
    rec["cpu"] = cpu_s * 1e6 / answers
    rec["usr"] = rec["uticks"] / clk * 1e6 / answers
    rec["busy"] = cpu_s / j.get("seconds", 1)
    rec["load_busy"] = j.get("load_cpu_busy", 0)
    rec["loss"] = j.get("losses", 0) / max(1, j.get("requests", 1))
    rec["p50"], rec["p99"] = j.get("p50_us", 0), j.get("p99_us", 0)
    return rec

with open(path) as fh:
    recs = [parse(line) for line in fh if line.strip()]

def short(r):
    if r["status"] != "ok":
        return f"FAILED: {r['status']}"
    return (f"{r['rate']:8.0f} req/s {r['cpu']:6.2f} us cpu/req ({r['usr']:.2f} user), "
            f"server busy {100 * r['busy']:.0f}%, stun_load busy {100 * r['load_busy']:.0f}%, "
            f"p50 {r['p50']} us, p99 {r['p99']} us, lost {100 * r['loss']:.3f}%")

if mode == "last":
    r = recs[-1]
    print(f"round {r['round']}  {r['server']:<6}  {short(r)}", flush=True)
    sys.exit(0)

servers = []
for r in recs:
    if r["server"] not in servers:
        servers.append(r["server"])

def med(server, key):
    vals = [r[key] for r in recs if r["server"] == server and r["status"] == "ok"]
    return statistics.median(vals) if vals else None

def fmt(v, spec, width=0):
    return f"{'-':>{width}}" if v is None else f"{v:{width}{spec}}"

print()
print(f"{'server':<7} {'req/s':>9} {'cpu us/req':>11} {'user part':>10} {'srv busy':>9} "
      f"{'load busy':>10} {'p50 us':>8} {'p99 us':>8} {'lost %':>7}")
for s in servers:
    busy, lbusy, loss = med(s, "busy"), med(s, "load_busy"), med(s, "loss")
    print(f"{s:<7} {fmt(med(s, 'rate'), '.0f', 9)} {fmt(med(s, 'cpu'), '.2f', 11)} "
          f"{fmt(med(s, 'usr'), '.2f', 10)} {fmt(busy and 100 * busy, '.0f', 8)}% "
          f"{fmt(lbusy and 100 * lbusy, '.0f', 9)}% {fmt(med(s, 'p50'), '.0f', 8)} "
          f"{fmt(med(s, 'p99'), '.0f', 8)} {fmt(loss and 100 * loss, '.3f', 7)}")

bad = [r for r in recs if r["status"] != "ok"]
if bad:
    print()
    for r in bad:
        print(f"FAILED round {r['round']} {r['server']}: {r['status']}")

print()
tr, orate = med("tincan", "rate"), med("coturn", "rate")
tc, oc = med("tincan", "cpu"), med("coturn", "cpu")
ratio = f"{tr / orate:.2f}" if tr and orate else "-"
print(f"stun binding: tincan {fmt(tr, '.0f')} req/s, coturn {fmt(orate, '.0f')} req/s, "
      f"ratio {ratio}")
ratio = f"{oc / tc:.2f}" if tc and oc else "-"
print(f"stun binding cpu per request: tincan {fmt(tc, '.2f')} us, coturn {fmt(oc, '.2f')} us, "
      f"ratio {ratio} (coturn/tincan; above 1: tincan spends less)")
sys.exit(1 if bad else 0)
EOF
}

# ---- measure ---------------------------------------------------------------------------------

echo "stun binding over udp: tincan $BIN, coturn $("$TURNSERVER" --version 2>/dev/null | head -n1 || echo '?') ($TURNSERVER)"
echo "servers on CPU $server_cpu, stun_load on CPU $client_cpu: $SOCKETS sockets x $IN_FLIGHT in flight$( ((FINGERPRINT)) && echo ', with FINGERPRINT'), $DURATION s per run, $ROUNDS round(s), warm-up ${WARMUP} s"

n_servers=${#SERVER_LIST[@]}
for r in $(seq 1 "$ROUNDS"); do
  # A different server goes first each round, so slow drifts in the machine spread evenly.
  for i in $(seq 0 $((n_servers - 1))); do
    name="${SERVER_LIST[$(((i + r - 1) % n_servers))]}"
    if ! start_server "$name"; then
      echo "round $r  $name: FAILED TO START, skipped:" >&2
      sed 's/^/  /' "$tmp/$name.log" >&2
      record "$r" "$name" 0 0 "failed to start" "{}"
      problems=1
      continue
    fi
    if ! stun_check "$srv_port" >"$tmp/check.out"; then
      echo "round $r  $name: WRONG ANSWER: $(cat "$tmp/check.out")" >&2
      record "$r" "$name" 0 0 "wrong answer" "{}"
      problems=1
      stop "$srv_pid"
      srv_pid=""
      continue
    fi
    if ((WARMUP > 0)); then
      taskset -c "$client_cpu" "$LOAD" "${load_flags[@]}" -d "$WARMUP" 127.0.0.1 "$srv_port" \
        >/dev/null 2>&1 || true
    fi
    if ! run_load "$r" "$name"; then
      echo "round $r  $name: DIED:" >&2
      sed 's/^/  /' "$tmp/$name.log" >&2
      problems=1
    else
      report last
    fi
    if [[ "$name" == tincan ]] && [[ -s "$tmp/$name.log" ]]; then
      echo "tincan logged:" >&2
      head -n 20 "$tmp/$name.log" | sed 's/^/  /' >&2
    fi
    stop "$srv_pid"
    srv_pid=""
  done
done

report all || problems=1
exit "$problems"
