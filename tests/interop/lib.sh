# Shared pieces of the interop shell tests, sourced by them (the test_*.sh glob leaves this file
# out): the checklist, a scratch folder that goes away on exit together with every process the test
# started, and starting tincan on a free port and stopping it with a check that it stopped cleanly.
#
# Env: TINCAN_BIN (default build/tincan), TCWS_BIN (default build/tcws), TINCAN_SRC (the repo).

SRC="${TINCAN_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
BIN="${TINCAN_BIN:-$SRC/build/tincan}"
TCWS="${TCWS_BIN:-$SRC/build/tcws}"

SANITIZER_RE='AddressSanitizer|LeakSanitizer|runtime error'

passed=0
failed=0
tmp=""
tc_pids=()

ok() {
  passed=$((passed + 1))
  echo "ok   - $1"
}
bad() {
  failed=$((failed + 1))
  echo "FAIL - $1${2:+: $2}"
}
check_eq() { # description expected got
  if [[ "$2" == "$3" ]]; then ok "$1"; else bad "$1" "expected '$2', got '$3'"; fi
}
# sanitizer_free DESCRIPTION FILE: a check that FILE holds no sanitizer report; returns 1 if it does.
sanitizer_free() {
  if grep -qE "$SANITIZER_RE" "$2"; then
    bad "$1" "$(grep -m1 -A20 -E "$SANITIZER_RE" "$2")"
    return 1
  fi
  ok "$1"
}

# A test that fails half way must not leave servers behind: whatever is still running is killed.
tc_cleanup() {
  local p
  for p in "${tc_pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      kill -KILL "$p" 2>/dev/null
      wait "$p" 2>/dev/null
    fi
  done
  [[ -n "$tmp" ]] && rm -rf "$tmp"
}

# tc_scratch NAME: makes the scratch folder $tmp and removes it (and tracked processes) on exit.
tc_scratch() {
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/tincan-$1.XXXXXX")"
  trap tc_cleanup EXIT
}

# tc_track PID: kill PID on exit if it is still running then.
tc_track() { tc_pids+=("$1"); }
tc_untrack() {
  local p keep=()
  for p in "${tc_pids[@]}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
  tc_pids=("${keep[@]}")
}

# tc_wait_exit PID [SECONDS]: waits up to SECONDS (10) for PID to end, then SIGKILLs it. Sets
# $stopped_rc to its exit status and $stopped_killed to 1 when it had to be killed, else 0.
tc_wait_exit() {
  local i
  for ((i = 0; i < ${2:-10} * 10; i++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  stopped_killed=0
  if kill -0 "$1" 2>/dev/null; then
    stopped_killed=1
    kill -KILL "$1" 2>/dev/null
  fi
  wait "$1" 2>/dev/null
  stopped_rc=$?
  tc_untrack "$1"
}

# tc_stop_pid PID [SECONDS]: SIGTERM, then as tc_wait_exit; $stopped_ms is how long it took.
tc_stop_pid() {
  local t0
  t0=$(($(date +%s%N) / 1000000))
  kill -TERM "$1" 2>/dev/null
  tc_wait_exit "$@"
  stopped_ms=$(($(date +%s%N) / 1000000 - t0))
}

# tc_start ERRFILE SCHEME [tincan args...]: starts tincan on 127.0.0.1 and a free port with its
# stderr in ERRFILE and waits (up to 15 s) for "listening on SCHEME://HOST:PORT". Sets $server_pid
# and $port; returns 1 (with $port empty) if tincan exits or never says so.
tc_start() {
  local err=$1 scheme=$2 i
  shift 2
  "$BIN" --host 127.0.0.1 --port 0 "$@" 2>"$err" >/dev/null </dev/null &
  server_pid=$!
  tc_track "$server_pid"
  port=""
  for ((i = 0; i < 150; i++)); do
    port="$(sed -nE "s/.*listening on $scheme:\/\/[^ ,]+:([0-9]+).*/\1/p" "$err" | head -n1)"
    [[ -n "$port" ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  # It may have said it just before exiting.
  port="$(sed -nE "s/.*listening on $scheme:\/\/[^ ,]+:([0-9]+).*/\1/p" "$err" | head -n1)"
  [[ -n "$port" ]]
}

# tc_stop LABEL PID ERRFILE: SIGTERM (SIGKILL after 10 s), then checks "LABEL exits 0 on SIGTERM"
# and that ERRFILE holds no sanitizer report.
tc_stop() {
  tc_stop_pid "$2"
  check_eq "$1 exits 0 on SIGTERM" 0 "$stopped_rc"
  sanitizer_free "$1 stderr has no sanitizer report" "$3"
}
