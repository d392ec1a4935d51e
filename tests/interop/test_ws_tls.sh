#!/usr/bin/env bash
# TLS: tincan serving https and wss with a self-signed certificate made here by openssl, checked
# with tcws (--ca, -k, and without trust), Node's `ws` and curl.
#
# Env: TINCAN_BIN, TCWS_BIN, TINCAN_SRC (and NODE_PATH for `ws`). Prints one line per check; exits
# non-zero on a failure.
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export NODE_PATH="${NODE_PATH:-$SRC/node_modules}"

tc_scratch tls

c() { curl --noproxy '*' -sS --max-time 20 "$@"; }

# cert NAME SAN: a self-signed P-256 certificate and key in $tmp/NAME.{crt,key}.
cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=$1" -addext "subjectAltName=$2" -addext "basicConstraints=critical,CA:TRUE" \
    -keyout "$tmp/$1.key" -out "$tmp/$1.crt" 2>"$tmp/openssl.err"
}
if ! cert localhost "DNS:localhost,IP:127.0.0.1" || ! cert other.test "DNS:other.test"; then
  bad "openssl makes the test certificates" "$(cat "$tmp/openssl.err")"
  exit 1
fi

# start NAME CERT: starts tincan with that certificate; sets $port and $server_pid.
start() {
  tc_start "$tmp/$1.err" https --web "$SRC/web" --tls-cert "$tmp/$2.crt" --tls-key "$tmp/$2.key" && return 0
  bad "tincan ($1) starts with TLS" "$(cat "$tmp/$1.err")"
  exit 1
}
# stop NAME PID: SIGTERM; checks exit 0 (SIGKILL after 10 s) and a clean stderr.
stop() { tc_stop "tincan ($1)" "$2" "$tmp/$1.err"; }

touch "$tmp/tcws-all.err"
# tcws_run NAME EXPECTED_EXIT STDIN [args...]
tcws_run() {
  local name=$1 want=$2 input=$3
  shift 3
  printf '%s' "$input" | timeout 20 "$TCWS" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  local rc=${PIPESTATUS[1]}
  check_eq "tcws $name: exit $want" "$want" "$rc"
  [[ "$rc" == "$want" ]] || echo "#   stderr: $(tail -5 "$tmp/$name.err")"
  cat "$tmp/$name.err" >>"$tmp/tcws-all.err"
}

start main localhost
main_pid=$server_pid
main_port=$port

lines=$'secure one\nsecure two ✓\n'
tcws_run "--ca, by name" 0 "$lines" --ca "$tmp/localhost.crt" -n 2 "wss://localhost:$port/echo"
check_eq "tcws --ca, by name: echo" "$lines" "$(cat "$tmp/--ca, by name.out")"$'\n'
tcws_run "--ca, by IP address" 0 "$lines" --ca "$tmp/localhost.crt" -n 2 "wss://127.0.0.1:$port/echo"
check_eq "tcws --ca, by IP address: echo" "$lines" "$(cat "$tmp/--ca, by IP address.out")"$'\n'
big="$(head -c 3000000 /dev/zero | tr '\0' 'z')"
tcws_run "--ca, 3 MB line" 0 "$big"$'\n' --ca "$tmp/localhost.crt" -n 1 "wss://localhost:$port/echo"
check_eq "tcws --ca, 3 MB line: echo" "$(printf '%s\n' "$big" | sha256sum)" "$(sha256sum <"$tmp/--ca, 3 MB line.out")"
tcws_run "--no-deflate over TLS" 0 "$lines" --no-deflate --ca "$tmp/localhost.crt" -n 2 "wss://localhost:$port/echo"
tcws_run "-k" 0 "$lines" -k -n 2 "wss://localhost:$port/echo"
check_eq "tcws -k: echo" "$lines" "$(cat "$tmp/-k.out")"$'\n'
tcws_run "without --ca (untrusted certificate)" 1 "$lines" -n 2 "wss://localhost:$port/echo"
tcws_run "--ca with another certificate" 1 "$lines" --ca "$tmp/other.test.crt" -n 2 "wss://localhost:$port/echo"
tcws_run "--ca with a missing file" 1 "$lines" --ca "$tmp/missing.crt" -n 2 "wss://localhost:$port/echo"
tcws_run "ws:// to the TLS port" 1 "$lines" -n 2 "ws://localhost:$port/echo"

# curl: the landing page over https, two requests on one connection.
code="$(c --cacert "$tmp/localhost.crt" -o "$tmp/index.html" -w '%{http_code}' "https://localhost:$port/")"
check_eq "curl --cacert https://localhost/: status" 200 "$code"
if cmp -s "$tmp/index.html" "$SRC/web/index.html"; then ok "curl https: the landing page"; else bad "curl https: the landing page" "body differs"; fi
out="$(c --cacert "$tmp/localhost.crt" -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
  "https://localhost:$port/" "https://localhost:$port/style.css")"
check_eq "curl https: two requests, one TLS connection" $'200 1\n200 0' "$out"
c -o /dev/null "https://localhost:$port/" 2>/dev/null
check_eq "curl without --cacert refuses the certificate (exit 60)" 60 $?
code="$(c -o /dev/null -w '%{http_code}' "http://localhost:$port/" 2>/dev/null)"
[[ "$code" != 200 ]] && ok "plain http to the TLS port gets no page ($code)" || bad "plain http to the TLS port gets no page"

# Node's ws over wss, trusting the certificate through `ca`.
cat >"$tmp/wss.js" <<'EOF'
const fs = require('fs');
const crypto = require('crypto');
const WebSocket = require('ws');
const [url, caFile] = process.argv.slice(2);
const ca = fs.readFileSync(caFile);
const results = [];
const say = (ok, desc, detail = '') => console.log(`${ok ? 'ok  ' : 'FAIL'} - node ws over wss: ${desc}${ok || !detail ? '' : ': ' + detail}`);
setTimeout(() => { say(false, 'finished in time'); process.exit(1); }, 60000).unref();
function session(opts) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { ca, ...opts });
    const sent = [Buffer.from('hello over tls'), crypto.randomBytes(100000), Buffer.alloc(4 << 20, 'w')];
    const got = [];
    ws.on('error', (e) => { say(false, `${JSON.stringify(opts)} connection`, e.message); resolve(); });
    ws.on('open', () => {
      say(ws.extensions === (opts.perMessageDeflate === false ? '' : 'permessage-deflate'),
          `${JSON.stringify(opts)} extensions`, ws.extensions);
      sent.forEach((m, i) => ws.send(m, { binary: i > 0 }));
    });
    ws.on('message', (data, isBinary) => {
      const i = got.length;
      got.push(data);
      say(isBinary === (i > 0) && data.equals(sent[i]), `${JSON.stringify(opts)} echo #${i} (${sent[i].length} bytes)`,
          `${data.length} bytes, binary ${isBinary}`);
      if (got.length === sent.length) ws.close(1000, 'done');
    });
    ws.on('close', (code) => { say(code === 1000, `${JSON.stringify(opts)} close 1000`, String(code)); resolve(); });
  });
}
(async () => {
  await session({});
  await session({ perMessageDeflate: false });
  // Without the certificate the handshake must fail.
  await new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('open', () => { say(false, 'an untrusted certificate is refused'); ws.terminate(); resolve(); });
    ws.on('error', (e) => { say(/self.signed|certificate/i.test(e.message), 'an untrusted certificate is refused', e.message); resolve(); });
  });
})();
EOF
timeout 90 node "$tmp/wss.js" "wss://localhost:$port/echo" "$tmp/localhost.crt" >"$tmp/node.out" 2>&1
rc=$?
cat "$tmp/node.out"
passed=$((passed + $(grep -c '^ok   - ' "$tmp/node.out")))
failed=$((failed + $(grep -c '^FAIL - ' "$tmp/node.out")))
check_eq "node ws over wss: exit 0" 0 "$rc"

# A handshake that never finishes and a client that gives up half way must not hurt the server.
timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf '\x16\x03\x01\x00\x05ab' >&3; sleep 1" 2>/dev/null
c --cacert "$tmp/localhost.crt" -o /dev/null --max-time 5 "https://localhost:$port/" 2>/dev/null
tcws_run "after broken handshakes" 0 "$lines" --ca "$tmp/localhost.crt" -n 2 "wss://localhost:$port/echo"

# A certificate for another name: verification must fail on the name, even when trusted.
start other other.test
other_pid=$server_pid
tcws_run "a trusted certificate for another name" 1 "$lines" --ca "$tmp/other.test.crt" -n 2 "wss://localhost:$port/echo"
tcws_run "-k accepts the other name" 0 "$lines" -k -n 2 "wss://localhost:$port/echo"
c --cacert "$tmp/other.test.crt" -o /dev/null "https://localhost:$port/" 2>/dev/null
check_eq "curl agrees: the name does not match (exit 60)" 60 $?
stop other "$other_pid"
stop main "$main_pid"

# A missing key file is a start-up error.
"$BIN" --host 127.0.0.1 --port 0 --tls-cert "$tmp/localhost.crt" --tls-key "$tmp/missing.key" 2>"$tmp/bad.err" &
bad_pid=$!
tc_track "$bad_pid"
tc_wait_exit "$bad_pid"
check_eq "tincan with a missing key file exits 1" 1 "$stopped_rc"
sanitizer_free "tincan with a missing key file: no sanitizer report" "$tmp/bad.err"
sanitizer_free "tcws runs printed no sanitizer report" "$tmp/tcws-all.err"

echo "# $passed passed, $failed failed"
[[ $failed -eq 0 ]]
