#!/usr/bin/env bash
# WebSocket interop with Debian's python3-websockets, a strict implementation, both ways:
# its client against tincan's /echo, and its server against tincan's client tcws.
#
# Env: TINCAN_BIN, TCWS_BIN, TINCAN_SRC. Prints one line per check; exits non-zero on a failure.
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PEER="$SRC/tests/interop/ws_python_peer.py"
# Debian's interpreter: the one python3-websockets is installed for.
PY=/usr/bin/python3

tc_scratch wspy

if ! "$PY" -c 'import websockets' 2>/dev/null; then
  if [[ "${CI:-}" == "true" ]]; then
    bad "python3-websockets is installed" "run scripts/deps.sh"
    exit 1
  fi
  echo "SKIP - python3-websockets is not installed (scripts/deps.sh installs it)"
  exit 77
fi

# ---- the python client against tincan's /echo ----------------------------------------------------
if ! tc_start "$tmp/tincan.err" http; then
  bad "tincan starts" "$(cat "$tmp/tincan.err")"
  exit 1
fi

timeout 120 "$PY" "$PEER" client "ws://127.0.0.1:$port/echo" >"$tmp/client.out" 2>&1
rc=$?
sed -n '/^\(ok  \|FAIL\) - /s/^/python client: /p' "$tmp/client.out" | sed 's/^python client: \(ok  \|FAIL\) - /\1 - python client: /'
passed=$((passed + $(grep -c '^ok   - ' "$tmp/client.out")))
failed=$((failed + $(grep -c '^FAIL - ' "$tmp/client.out")))
if [[ $rc -ne 0 ]] && ! grep -q '^FAIL - ' "$tmp/client.out"; then
  bad "python client ran to the end" "exit $rc: $(tail -20 "$tmp/client.out")"
fi

tc_stop tincan "$server_pid" "$tmp/tincan.err"

# ---- tcws against the python server ----------------------------------------------------------------
"$PY" "$PEER" server >"$tmp/server.out" 2>"$tmp/server.err" &
pypid=$!
tc_track "$pypid"
dport=""
for _ in $(seq 1 100); do
  read -r dport pport < <(sed -n 's/^listening deflate=\([0-9]*\) plain=\([0-9]*\)$/\1 \2/p' "$tmp/server.out")
  [[ -n "${dport:-}" ]] && break
  sleep 0.1
done
if [[ -z "${dport:-}" ]]; then
  bad "python server starts" "$(cat "$tmp/server.err")"
  exit 1
fi

mkfifo "$tmp/stdin"
exec 3<>"$tmp/stdin"
n=0
# tcws_run NAME EXPECTED_EXIT STDIN [tcws args...]: runs tcws, checks its exit code; output in
# $tmp/NAME.out and .err.
tcws_run() {
  local name=$1 want=$2 input=$3
  shift 3
  n=$((n + 1))
  if [[ "$input" == "-" ]]; then
    # A FIFO we hold open for writing keeps stdin open: the server, not the end of input, ends
    # the session.
    timeout 20 "$TCWS" "$@" <&3 >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
  else
    printf '%s' "$input" | timeout 20 "$TCWS" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=${PIPESTATUS[1]}
  fi
  check_eq "tcws $name: exit $want" "$want" "$rc"
  [[ "$rc" == "$want" ]] || echo "#   stderr: $(tail -5 "$tmp/$name.err")"
  cat "$tmp/$name.err" >>"$tmp/tcws-all.err"
}
# The report of the connection that ended last.
last_closed() { grep '"event": "closed"' "$tmp/server.out" | tail -1; }
wait_closed_count() { # N: waits (up to 5 s) until the server reported N connections
  for _ in $(seq 1 50); do
    [[ $(grep -c '"event": "closed"' "$tmp/server.out") -ge $1 ]] && return 0
    sleep 0.1
  done
  return 1
}

big="$("$PY" -c 'import sys; sys.stdout.write(" ".join("word%d" % (i % 977) for i in range(60000)))')"
lines=$'one\ntwo\nhéllo wörld ✓ 😀\n'"$big"$'\n'
for mode in plain deflate; do
  p=$pport
  [[ $mode == deflate ]] && p=$dport
  tcws_run "echo-$mode" 0 "$lines" -n 4 "ws://127.0.0.1:$p/echo"
  check_eq "tcws echo-$mode: stdout is the echoed lines" "$(printf '%s' "$lines" | sha256sum)" "$(sha256sum <"$tmp/echo-$mode.out")"
  wait_closed_count $n
  last="$(last_closed)"
  if [[ $mode == deflate ]]; then
    [[ "$last" == *'"extensions": "permessage-deflate'* ]] && ok "tcws echo-$mode: deflate negotiated" ||
      bad "tcws echo-$mode: deflate negotiated" "$last"
  else
    [[ "$last" == *'"extensions": ""'* ]] && ok "tcws echo-$mode: no extension" || bad "tcws echo-$mode: no extension" "$last"
  fi
  [[ "$last" == *'"code": 1000'* ]] && ok "tcws echo-$mode: the server sees close 1000" ||
    bad "tcws echo-$mode: the server sees close 1000" "$last"
done

tcws_run "binary" 0 $'b1\nb2\n' -b -n 2 "ws://127.0.0.1:$dport/echo"
check_eq "tcws binary: stdout" $'b1\nb2' "$(cat "$tmp/binary.out")"
wait_closed_count $n

tcws_run "no-deflate" 0 $'x\n' --no-deflate -n 1 "ws://127.0.0.1:$dport/echo"
wait_closed_count $n
[[ "$(last_closed)" == *'"extensions": ""'* ]] && ok "tcws --no-deflate: no extension" ||
  bad "tcws --no-deflate: no extension" "$(last_closed)"

tcws_run "subprotocol" 0 $'sub\n' -s chat -s json -n 1 "ws://127.0.0.1:$dport/echo"
grep -q 'subprotocol json' "$tmp/subprotocol.err" && ok "tcws -s chat -s json: json chosen" ||
  bad "tcws -s chat -s json: json chosen" "$(cat "$tmp/subprotocol.err")"
wait_closed_count $n
[[ "$(last_closed)" == *'"protocol": "json"'* ]] && ok "tcws subprotocol: the server agrees" ||
  bad "tcws subprotocol: the server agrees" "$(last_closed)"

tcws_run "close1001" 0 - "ws://127.0.0.1:$dport/close1001"
check_eq "tcws close1001: printed hello" hello "$(cat "$tmp/close1001.out")"
wait_closed_count $n

tcws_run "close4001" 3 - "ws://127.0.0.1:$dport/close4001"
grep -q 4001 "$tmp/close4001.err" && ok "tcws close4001: stderr names 4001" || bad "tcws close4001: stderr names 4001" "$(cat "$tmp/close4001.err")"
wait_closed_count $n

tcws_run "badutf8" 3 - "ws://127.0.0.1:$pport/badutf8"
wait_closed_count $n
[[ "$(last_closed)" == *'"code": 1007'* ]] && ok "tcws badutf8: the server sees close 1007" ||
  bad "tcws badutf8: the server sees close 1007" "$(last_closed)"

tcws_run "drop" 3 - "ws://127.0.0.1:$dport/drop"
wait_closed_count $n

tcws_run "ping" 0 - "ws://127.0.0.1:$dport/ping"
wait_closed_count $n
[[ "$(last_closed)" == *'"pong": true'* ]] && ok "tcws ping: the server got its pong" ||
  bad "tcws ping: the server got its pong" "$(last_closed)"

tcws_run "404" 1 - "ws://127.0.0.1:$dport/nowhere"

tc_stop_pid "$pypid"
if grep -q '"error"' "$tmp/server.out" || grep -q Traceback "$tmp/server.err"; then
  bad "the python server saw no errors" "$(grep '"error"' "$tmp/server.out"; tail -20 "$tmp/server.err")"
else
  ok "the python server saw no errors"
fi
touch "$tmp/tcws-all.err"
sanitizer_free "tcws runs printed no sanitizer report" "$tmp/tcws-all.err"

echo "# $passed passed, $failed failed"
[[ $failed -eq 0 ]]
