#!/usr/bin/env bash
# STUN interop: tincan's STUN server (UDP and TCP, --stun-port) against real clients: coturn's
# turnutils_stunclient (UDP, IPv4 and IPv6) and aioice, aiortc's ICE library
# (tests/interop/stun_aioice_peer.py: UDP and TCP, errors, bad input).
#
# Env: TINCAN_BIN, TINCAN_SRC. Prints one line per check; exits non-zero on a failure.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PEER="$SRC/tests/interop/stun_aioice_peer.py"
PY=/usr/bin/python3
tc_scratch stun

if ! command -v turnutils_stunclient >/dev/null || ! "$PY" -c 'import aioice' 2>/dev/null; then
  if [[ "${CI:-}" == "true" ]]; then
    bad "coturn and python3-aioice are installed" "run scripts/deps.sh"
    exit 1
  fi
  echo "SKIP - coturn or python3-aioice is missing (scripts/deps.sh installs them)"
  exit 77
fi

# stun_port ERRFILE: the port tincan's log gives for its STUN server.
stun_port() { sed -nE 's/.*STUN server on udp and tcp [^ ]+:([0-9]+).*/\1/p' "$1" | head -n1; }

for host in 127.0.0.1 ::1; do
  if [[ "$host" == ::1 ]] && ! ip -6 addr show dev lo 2>/dev/null | grep -q '::1'; then
    echo "# no IPv6 on loopback: IPv6 checks left out"
    continue
  fi
  label="stun $host"
  if ! tc_start "$tmp/tincan.err" http --host "$host" --stun-port 0; then
    bad "$label: tincan starts" "$(cat "$tmp/tincan.err")"
    exit 1
  fi
  sport="$(stun_port "$tmp/tincan.err")"
  if [[ -z "$sport" ]]; then
    bad "$label: tincan reports its STUN port" "$(cat "$tmp/tincan.err")"
    exit 1
  fi
  ok "$label: tincan runs STUN on port $sport"

  # coturn's client prints "UDP reflexive addr: IP:PORT" (with RFC 5780 off: plain RFC 5389).
  out="$(timeout 20 turnutils_stunclient -p "$sport" "$host" 2>&1)"
  refl="$(sed -nE 's/.*UDP reflexive addr: *([^ ]+).*/\1/p' <<<"$out" | head -n1)"
  case "$host" in
    ::1) want='^(\[::1\]|::1):[0-9]+$' ;;
    *) want='^127\.0\.0\.1:[0-9]+$' ;;
  esac
  if [[ "$refl" =~ $want ]]; then
    ok "$label: turnutils_stunclient gets the reflexive address $refl"
  else
    bad "$label: turnutils_stunclient gets the reflexive address" "$out"
  fi

  timeout 60 "$PY" "$PEER" "$host" "$sport" >"$tmp/peer.out" 2>&1
  rc=$?
  sed -n "s/^\(ok  \|FAIL\) - /\1 - $label aioice: /p" "$tmp/peer.out"
  passed=$((passed + $(grep -c '^ok   - ' "$tmp/peer.out")))
  failed=$((failed + $(grep -c '^FAIL - ' "$tmp/peer.out")))
  if [[ $rc -ne 0 ]] && ! grep -q '^FAIL - ' "$tmp/peer.out"; then
    bad "$label: aioice client ran to the end" "exit $rc: $(tail -20 "$tmp/peer.out")"
  fi
  tc_stop "$label: tincan" "$server_pid" "$tmp/tincan.err"
done

# The ICE servers the call page is given name that STUN server first.
if tc_start "$tmp/tincan.err" http --stun-port 0 --ice-server stun:stun.example.org:3478; then
  sport="$(stun_port "$tmp/tincan.err")"
  got="$(curl -s "http://127.0.0.1:$port/api/ice-servers")"
  check_eq "ice servers: tincan's STUN first, then --ice-server" \
    "{\"iceServers\":[{\"urls\":[\"stun:127.0.0.1:$sport\"]},{\"urls\":[\"stun:stun.example.org:3478\"]}]}" "$got"
  got="$(curl -s -H 'Host: localhost:1234' "http://127.0.0.1:$port/api/ice-servers")"
  check_eq "ice servers: the STUN host is the one the page was loaded from" \
    "{\"iceServers\":[{\"urls\":[\"stun:localhost:$sport\"]},{\"urls\":[\"stun:stun.example.org:3478\"]}]}" "$got"
  got="$(curl -s -o /dev/null -w '%{http_code} ' -X POST "http://127.0.0.1:$port/api/ice-servers")"
  got+="$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: a_b~c' "http://127.0.0.1:$port/api/ice-servers")"
  check_eq "ice servers: POST gets 405; a Host that cannot go in a URL gets no say" "405 200" "$got"
  got="$(curl -s -H 'Host: a_b~c' "http://127.0.0.1:$port/api/ice-servers")"
  check_eq "ice servers: with such a Host, the listening address stands in" \
    "{\"iceServers\":[{\"urls\":[\"stun:127.0.0.1:$sport\"]},{\"urls\":[\"stun:stun.example.org:3478\"]}]}" "$got"
  tc_stop "ice servers: tincan" "$server_pid" "$tmp/tincan.err"
else
  bad "ice servers: tincan starts" "$(cat "$tmp/tincan.err")"
fi
if tc_start "$tmp/tincan.err" http --no-stun; then
  got="$(curl -s "http://127.0.0.1:$port/api/ice-servers")"
  check_eq "ice servers: none with --no-stun" '{"iceServers":[]}' "$got"
  tc_stop "no stun: tincan" "$server_pid" "$tmp/tincan.err"
else
  bad "no stun: tincan starts" "$(cat "$tmp/tincan.err")"
fi

echo "# $passed passed, $failed failed"
[[ $failed -eq 0 ]]
