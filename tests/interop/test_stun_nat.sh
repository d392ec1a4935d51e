#!/usr/bin/env bash
# STUN across a NAT: tincan's STUN server tells a client behind a NAT its public (mapped) address,
# the address a WebRTC peer elsewhere can reach, in a lab of network namespaces (RFC 5737
# documentation addresses, nothing leaves the machine):
#
#   lan1 192.168.10.2 -- r1 (nft masquerade) 203.0.113.2 --+
#   lan2 192.168.20.2 -- r2 (masquerade fully-random) .4 --+-- br0 203.0.113.1 (pub: tincan)
#                                      host 203.0.113.3 --+
#
# r1 maps like a home router (endpoint-independent: one local socket keeps its public port whoever
# it talks to), so STUN is enough; r2 picks a new public port per destination (endpoint-dependent,
# "symmetric"), so the port STUN reports is useless to any other peer and only a TURN relay helps.
# The public side has no route to the LANs: replies reach a LAN only through its router's mapping.
#
# Needs root, ip netns and nft; skips (77) without them unless CI=true.
# Env: TINCAN_BIN, TINCAN_SRC. Prints one line per check; exits non-zero on a failure.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PY=/usr/bin/python3
tc_scratch stun-nat

# Names carry the PID so that runs side by side, or after one that was killed, never collide.
ns_pub="tcnat$$-pub"
ns_r1="tcnat$$-r1"
ns_lan1="tcnat$$-lan1"
ns_r2="tcnat$$-r2"
ns_lan2="tcnat$$-lan2"
ns_host="tcnat$$-host"
lab_ns=("$ns_pub" "$ns_r1" "$ns_lan1" "$ns_r2" "$ns_lan2" "$ns_host")

nat_cleanup() {
  local ns
  tc_cleanup
  for ns in "${lab_ns[@]}"; do
    ip netns del "$ns" 2>/dev/null
  done
}
trap nat_cleanup EXIT
# An interrupted run still goes through the EXIT trap, so no namespace outlives it.
trap 'exit 130' INT
trap 'exit 143' TERM

# skip REASON: not a failure on a machine that cannot build the lab, but one under CI.
skip() {
  if [[ "${CI:-}" == "true" ]]; then
    bad "the NAT lab can be built" "$1"
    echo "# $passed passed, $failed failed"
    exit 1
  fi
  echo "SKIP - $1"
  exit 77
}

[[ "$(id -u)" -eq 0 ]] || skip "network namespaces and nft need root"
if ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
  skip "ip netns (iproute2) is missing"
fi
command -v nft >/dev/null || skip "nft (nftables) is missing"
if ! command -v turnutils_stunclient >/dev/null || ! "$PY" -c 'import aioice' 2>/dev/null; then
  skip "coturn or python3-aioice is missing (scripts/deps.sh installs them)"
fi

# veth NS1 IF1 NS2 IF2: a cable between two namespaces, both ends up.
veth() {
  ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
}

# router NS LAN_CIDR PUBLIC_CIDR MASQUERADE_FLAGS: a NAT router between a LAN (on "lan") and the
# public bridge (on "wan").
router() {
  ip -n "$1" addr add "$2" dev lan
  ip -n "$1" addr add "$3" dev wan
  ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$1" nft -f - <<EOF
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" masquerade $4
  }
}
EOF
}

lab_up() {
  local ns
  for ns in "${lab_ns[@]}"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
  ip -n "$ns_pub" link add br0 type bridge
  ip -n "$ns_pub" link set br0 up
  ip -n "$ns_pub" addr add 203.0.113.1/24 dev br0
  veth "$ns_pub" r1 "$ns_r1" wan
  veth "$ns_pub" r2 "$ns_r2" wan
  veth "$ns_pub" host "$ns_host" eth0
  for ns in r1 r2 host; do
    ip -n "$ns_pub" link set "$ns" master br0
  done
  veth "$ns_r1" lan "$ns_lan1" eth0
  veth "$ns_r2" lan "$ns_lan2" eth0
  router "$ns_r1" 192.168.10.1/24 203.0.113.2/24 ""
  router "$ns_r2" 192.168.20.1/24 203.0.113.4/24 "fully-random"
  ip -n "$ns_lan1" addr add 192.168.10.2/24 dev eth0
  ip -n "$ns_lan1" route add default via 192.168.10.1
  ip -n "$ns_lan2" addr add 192.168.20.2/24 dev eth0
  ip -n "$ns_lan2" route add default via 192.168.20.1
  ip -n "$ns_host" addr add 203.0.113.3/24 dev eth0
}

# errexit in a plain subshell (not in an if or ||, where bash would ignore it): the first command
# that fails stops the set-up.
(
  set -e
  lab_up
) >"$tmp/lab.err" 2>&1
lab_rc=$?
[[ $lab_rc -eq 0 ]] || skip "cannot build the namespace lab: $(tail -n3 "$tmp/lab.err" | tr '\n' ' ')"

# nat_start ERRFILE STUN_PORT [HOST]: tincan in the public namespace on HOST (203.0.113.1),
# waiting (up to 15 s) for both its HTTP and its STUN listener. Sets $server_pid; returns 1 if
# they never come up.
nat_start() {
  local i host=${3:-203.0.113.1}
  # ip netns exec execs the command, so $! is tincan itself.
  ip netns exec "$ns_pub" "$BIN" --host "$host" --port 0 --stun-port "$2" \
    2>"$1" >/dev/null </dev/null &
  server_pid=$!
  tc_track "$server_pid"
  for ((i = 0; i < 150; i++)); do
    if grep -q 'listening on http://' "$1" &&
      grep -qF "STUN server on udp and tcp $host:$2" "$1"; then
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# The client: aioice encodes each Binding request and decodes (and checks the FINGERPRINT of)
# each answer. Prints the socket's own address, then the XOR-MAPPED-ADDRESS of each server port
# asked, all from that one socket, as IP:PORT words.
cat >"$tmp/client.py" <<'EOF'
import socket
import struct
import sys

from aioice import stun

proto, host, ports = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3:]]


def request():
    m = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    m.attributes["FINGERPRINT"] = stun.message_fingerprint(bytes(m))
    return m


def mapped(req, data):
    resp = stun.parse_message(data)
    if resp.transaction_id != req.transaction_id or resp.message_class != stun.Class.RESPONSE:
        raise SystemExit(f"not the answer to the request: {resp!r}")
    ip, port = resp.attributes["XOR-MAPPED-ADDRESS"]
    return f"{ip}:{port}"


def udp():
    # The address the route to the server leaves from, made explicit so that getsockname says it.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect((host, ports[0]))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((probe.getsockname()[0], 0))
    probe.close()
    s.settimeout(0.5)
    out = ["%s:%d" % s.getsockname()]
    for port in ports:
        req, got = request(), None
        for _ in range(6):  # retransmit, as RFC 8489 section 6.2.1 asks on UDP
            s.sendto(bytes(req), (host, port))
            try:
                got, src = s.recvfrom(2048)
            except socket.timeout:
                continue
            if src == (host, port):
                break
            got = None
        if got is None:
            raise SystemExit(f"no answer from {host}:{port}")
        out.append(mapped(req, got))
    return out


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise SystemExit("connection closed")
        buf += chunk
    return buf


def tcp():
    s = socket.create_connection((host, ports[0]), timeout=3)
    req = request()
    s.sendall(bytes(req))
    head = recv_exact(s, 20)
    (length,) = struct.unpack("!H", head[2:4])
    return ["%s:%d" % s.getsockname(), mapped(req, head + recv_exact(s, length))]


print(" ".join(udp() if proto == "udp" else tcp()))
EOF

# ask NS PROTO PORT...: runs the client in NS against $target (203.0.113.1); sets $own (the socket's
# address) and $mapped (an array); returns 1 (with the output in $client_out) if it fails.
ask() {
  local ns=$1
  shift
  own=""
  mapped=()
  # stderr apart, so that a warning from Python cannot pass for an address.
  if ! client_out="$(ip netns exec "$ns" timeout 15 "$PY" "$tmp/client.py" "$1" "${target:-203.0.113.1}" "${@:2}" \
    2>"$tmp/client.err")"; then
    client_out="$client_out $(tail -n1 "$tmp/client.err")"
    return 1
  fi
  read -r own mapped_line <<<"$client_out"
  read -r -a mapped <<<"$mapped_line"
}

# stunclient NS: coturn's client in NS against 203.0.113.1:3478; sets $refl to the reflexive
# address it prints and $stun_out to all it said.
stunclient() {
  stun_out="$(ip netns exec "$1" timeout 5 turnutils_stunclient -p 3478 203.0.113.1 2>&1)"
  refl="$(sed -nE 's/.*UDP reflexive addr: *([^ ]+).*/\1/p' <<<"$stun_out" | head -n1)"
}

if ! nat_start "$tmp/tincan1.err" 3478; then
  bad "tincan starts on 203.0.113.1:3478 in the public namespace" "$(cat "$tmp/tincan1.err")"
  exit 1
fi
pid1=$server_pid
if ! nat_start "$tmp/tincan2.err" 3479; then
  bad "a second tincan starts on 203.0.113.1:3479" "$(cat "$tmp/tincan2.err")"
  exit 1
fi
pid2=$server_pid
ok "lab: tincan serves STUN on 203.0.113.1 ports 3478 and 3479 in the public namespace"

if ip -n "$ns_pub" route get 192.168.10.2 >/dev/null 2>&1; then
  bad "lab: the public side has no route to the LAN" "$(ip -n "$ns_pub" route)"
else
  ok "lab: the public side has no route to the LAN (192.168.10.2 is private)"
fi

# 1. coturn's client behind r1 learns r1's public address, not its own.
stunclient "$ns_lan1"
if [[ "$refl" =~ ^203\.0\.113\.2:[0-9]+$ ]]; then
  ok "nat: turnutils_stunclient on 192.168.10.2 gets the router's public address $refl"
else
  bad "nat: turnutils_stunclient on 192.168.10.2 gets the router's public address" "${stun_out:-no answer in 5 s}"
fi

# 2. aioice behind r1, UDP and TCP: its socket is on 192.168.10.2, the answer names 203.0.113.2.
for proto in udp tcp; do
  if ! ask "$ns_lan1" "$proto" 3478; then
    bad "nat: aioice $proto behind the NAT gets an answer" "$client_out"
  elif [[ "$own" == 192.168.10.2:* && "${mapped[0]:-}" == 203.0.113.2:* ]]; then
    ok "nat: aioice $proto from $own gets XOR-MAPPED-ADDRESS ${mapped[0]}"
  else
    bad "nat: aioice $proto from 192.168.10.2 gets XOR-MAPPED-ADDRESS 203.0.113.2" "$client_out"
  fi
done

# 3. No NAT: a host on the public side gets its own address back, port and all.
stunclient "$ns_host"
if [[ "$refl" =~ ^203\.0\.113\.3:[0-9]+$ ]]; then
  ok "public: turnutils_stunclient on 203.0.113.3 gets its own address $refl"
else
  bad "public: turnutils_stunclient on 203.0.113.3 gets its own address" "${stun_out:-no answer in 5 s}"
fi
for proto in udp tcp; do
  if ! ask "$ns_host" "$proto" 3478; then
    bad "public: aioice $proto gets an answer" "$client_out"
  elif [[ "$own" == 203.0.113.3:* && "${mapped[0]:-}" == "$own" ]]; then
    ok "public: aioice $proto from $own gets its own address back"
  else
    bad "public: aioice $proto from 203.0.113.3 gets its own address back" "$client_out"
  fi
done

# 4. Mapping behaviour (RFC 4787): one UDP socket asks both STUN ports. Behind r1 both answers name
# the same public port, which any peer can use; behind r2 each destination gets a port of its own.
if ! ask "$ns_lan1" udp 3478 3479; then
  bad "mapping: one socket behind the plain NAT gets answers from both ports" "$client_out"
elif [[ "${mapped[0]:-}" == 203.0.113.2:* && "${mapped[0]:-}" == "${mapped[1]:-}" ]]; then
  ok "mapping: endpoint-independent NAT, one socket has one public address ${mapped[0]:-} for both servers"
else
  bad "mapping: endpoint-independent NAT gives one public address for both servers" "$client_out"
fi
# fully-random draws each port afresh: two draws match once in ~64,000, so one more socket settles it.
for attempt in 1 2; do
  ask "$ns_lan2" udp 3478 3479 || break
  [[ "${mapped[0]:-}" == "${mapped[1]:-}" ]] || break
done
if [[ -z "${mapped[1]:-}" ]] || ! [[ "$own" == 192.168.20.2:* ]]; then
  bad "mapping: one socket behind the symmetric NAT gets answers from both ports" "$client_out"
elif [[ "${mapped[0]:-}" == 203.0.113.4:* && "${mapped[1]:-}" == 203.0.113.4:* &&
  "${mapped[0]:-}" != "${mapped[1]:-}" ]]; then
  seen="one socket $own is ${mapped[0]} to one server and ${mapped[1]} to the other"
  ok "mapping: endpoint-dependent NAT, $seen (STUN alone cannot cross it)"
else
  bad "mapping: endpoint-dependent NAT gives a new public port per server" "$client_out (try $attempt)"
fi

# 5. A server bound to 0.0.0.0 on a machine with two public addresses: an answer must leave from
# the address its request came to, or the client's NAT, which expects it from there, drops it.
ip -n "$ns_pub" addr add 203.0.113.10/24 dev br0
if ! nat_start "$tmp/tincan3.err" 3480 0.0.0.0; then
  bad "a tincan on 0.0.0.0:3480 starts" "$(cat "$tmp/tincan3.err")"
else
  pid3=$server_pid
  for addr in 203.0.113.1 203.0.113.10; do
    for proto in udp tcp; do
      if target=$addr ask "$ns_lan1" "$proto" 3480 && [[ "${mapped[0]:-}" == 203.0.113.2:* ]]; then
        ok "wildcard: $proto to $addr through the NAT is answered (${mapped[0]})"
      else
        bad "wildcard: $proto to $addr through the NAT is answered" "$client_out"
      fi
    done
  done
  tc_stop "tincan on 0.0.0.0:3480" "$pid3" "$tmp/tincan3.err"
fi

# 6. The servers stop cleanly.
tc_stop "tincan on 3478" "$pid1" "$tmp/tincan1.err"
tc_stop "tincan on 3479" "$pid2" "$tmp/tincan2.err"

echo "# $passed passed, $failed failed"
[[ $failed -eq 0 ]]
