#!/usr/bin/env bash
# Drives the tincan binary with curl and with raw bytes, the way real clients and broken ones talk.
#
# Env: TINCAN_BIN (the binary; default build/tincan), TINCAN_SRC (the repo root).
# Starts its own server on a free port with a web folder it builds, prints one line per check and
# exits non-zero when any check fails.
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REQUEST_TIMEOUT_MS=3000

# Writing to a socket the server already closed must fail the write, not kill the script.
trap '' PIPE

tc_scratch curl
web="$tmp/web"
pid=""

check_in() { # description got allowed...
  local desc=$1 got=$2 a
  shift 2
  for a in "$@"; do
    if [[ "$got" == "$a" ]]; then
      ok "$desc ($got)"
      return
    fi
  done
  bad "$desc" "expected one of '$*', got '$got'"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# curl without proxies from the environment and with a deadline; prints the status code.
c() {
  rm -f "$tmp/b" "$tmp/h"
  curl --noproxy '*' -sS --max-time 20 "$@"
}

# A header's value from a file written by curl -D (case-insensitive name, CR removed).
header() { # file name
  grep -i "^$2:" "$1" | head -n1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//; s/ *$//'
}

# raw OUT DATA SECONDS: sends DATA as is on a fresh connection, then reads until the server closes
# or SECONDS pass. Returns 0 when the server closed, 124 on the deadline, 1 when it can't connect.
raw() {
  local out=$1 data=$2 secs=${3:-5} fd rc
  : >"$out"
  { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  printf '%s' "$data" 1>&"$fd" 2>/dev/null
  timeout "$secs" cat <&"$fd" >"$out" 2>/dev/null
  rc=$?
  exec {fd}<&-
  return "$rc"
}
# section NAME: a heading, and a stop with the server's stderr if it died in the previous one.
section() {
  if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null
    bad "server still running before '$1'" "it exited with status $?; its stderr (last 40 lines):"
    tail -n 40 "$tmp/stderr"
    echo "$((passed + failed)) checks, $failed failed"
    exit 1
  fi
  echo "# $1"
}
status_line_code() { head -n1 "$1" | tr -d '\r' | awk '{print $2}'; }

CRLF=$'\r\n'

# ---- the web folder --------------------------------------------------------------------------

mkdir -p "$web/sub" "$web/empty-dir"
cat >"$web/index.html" <<'EOF'
<!doctype html>
<html><head><meta charset="utf-8"><title>tincan test root</title></head>
<body><p>root index</p></body></html>
EOF
printf 'sub index\n' >"$web/sub/index.html"
printf 'alpha\n' >"$web/a.txt"
printf 'bravo\n' >"$web/b.txt"
printf 'body { color: red; }\n' >"$web/style.css"
head -c 20971520 /dev/urandom >"$web/big.bin"
ln -s /etc/passwd "$web/passwd-link"
ln -s /etc "$web/etc-link"
ln -s a.txt "$web/alias.txt"
# A past mtime, so that If-Modified-Since with the served date is unambiguous.
touch -d '2024-01-02 03:04:05 UTC' "$web/a.txt"

# ---- start -----------------------------------------------------------------------------------

if [[ ! -x "$BIN" ]]; then
  echo "FAIL - no tincan binary at $BIN"
  exit 1
fi
if ! tc_start "$tmp/stderr" http --web "$web" --request-timeout "$REQUEST_TIMEOUT_MS"; then
  echo "FAIL - tincan did not report 'listening on http://HOST:PORT'; stderr:"
  cat "$tmp/stderr"
  exit 1
fi
pid=$server_pid
ok "started: pid $pid, port $port"
base="http://127.0.0.1:$port"

section "plain GET and HEAD"

code="$(c -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' "$base/")"
check_eq "GET / status" 200 "$code"
ct="$(header "$tmp/h" content-type)"
if [[ "$ct" == text/html* ]]; then ok "GET / content-type ($ct)"; else bad "GET / content-type" "got '$ct'"; fi
if cmp -s "$tmp/b" "$web/index.html"; then ok "GET / body is index.html"; else bad "GET / body is index.html"; fi
check_eq "GET / content-length" "$(stat -c %s "$web/index.html")" "$(header "$tmp/h" content-length)"

code="$(c -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' "$base/style.css")"
check_eq "GET /style.css status" 200 "$code"
ct="$(header "$tmp/h" content-type)"
if [[ "$ct" == text/css* ]]; then ok "GET /style.css content-type ($ct)"; else bad "GET /style.css content-type" "got '$ct'"; fi

code="$(c -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' "$base/a.txt")"
ct="$(header "$tmp/h" content-type)"
if [[ "$code" == 200 && "$ct" == text/plain* ]] && cmp -s "$tmp/b" "$web/a.txt"; then
  ok "GET /a.txt 200 text/plain, body intact"
else
  bad "GET /a.txt" "status $code, content-type '$ct'"
fi

code="$(c -I -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' "$base/")"
check_eq "HEAD / status" 200 "$code"
check_eq "HEAD / content-length is the file's" "$(stat -c %s "$web/index.html")" "$(header "$tmp/h" content-length)"
ct="$(header "$tmp/h" content-type)"
if [[ "$ct" == text/html* ]]; then ok "HEAD / content-type ($ct)"; else bad "HEAD / content-type" "got '$ct'"; fi

# A HEAD answer with a body would corrupt the next response on the connection: pipeline one after.
raw "$tmp/r" "HEAD /a.txt HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}GET /b.txt HTTP/1.1${CRLF}Host: x${CRLF}Connection: close${CRLF}${CRLF}" 5
n200="$(grep -c $'^HTTP/1.1 200' "$tmp/r")"
if [[ "$n200" == 2 ]] && ! grep -q '^alpha' "$tmp/r" && [[ "$(tail -c 6 "$tmp/r")" == "bravo" ]]; then
  ok "HEAD sends no body (a pipelined GET after it parses cleanly)"
else
  bad "HEAD sends no body" "got: $(head -c 400 "$tmp/r" | tr '\r\n' '  ')"
fi

code="$(c -o "$tmp/b" -w '%{http_code}' "$base/nope.html")"
check_eq "GET /nope.html -> 404" 404 "$code"
code="$(c -o "$tmp/b" -w '%{http_code}' "$base/sub/nope/deeper.txt")"
check_eq "GET /sub/nope/deeper.txt -> 404" 404 "$code"

section "folders"

code="$(c -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' "$base/sub")"
check_eq "GET /sub -> 301" 301 "$code"
loc="$(header "$tmp/h" location)"
if [[ "$loc" == "/sub/" || "$loc" == "$base/sub/" ]]; then ok "301 Location ($loc)"; else bad "301 Location" "expected /sub/, got '$loc'"; fi
code="$(c -o "$tmp/b" -w '%{http_code}' "$base/sub/")"
if [[ "$code" == 200 ]] && cmp -s "$tmp/b" "$web/sub/index.html"; then
  ok "GET /sub/ serves sub/index.html"
else
  bad "GET /sub/ serves sub/index.html" "status $code"
fi
code="$(c -L -o "$tmp/b" -w '%{http_code}' "$base/sub")"
check_eq "GET /sub followed -> 200" 200 "$code"
code="$(c -o "$tmp/b" -w '%{http_code}' "$base/empty-dir/")"
check_in "GET /empty-dir/ (no index.html) is refused" "$code" 403 404

section "conditional requests"

c -D "$tmp/h" -o "$tmp/b" "$base/a.txt"
etag="$(header "$tmp/h" etag)"
lm="$(header "$tmp/h" last-modified)"
if [[ "$etag" == \"*\" || "$etag" == W/\"*\" ]]; then ok "ETag present ($etag)"; else bad "ETag present" "got '$etag'"; fi
check_eq "Last-Modified is the file's mtime" "Tue, 02 Jan 2024 03:04:05 GMT" "$lm"

code="$(c -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' -H "If-None-Match: $etag" "$base/a.txt")"
check_eq "If-None-Match with the ETag -> 304" 304 "$code"
check_eq "304 has no body (curl)" 0 "$(stat -c %s "$tmp/b" 2>/dev/null || echo 0)"
# curl never reads a 304's body, so a stray one would only show up in the next response.
raw "$tmp/r" "GET /a.txt HTTP/1.1${CRLF}Host: x${CRLF}If-None-Match: ${etag}${CRLF}${CRLF}GET /b.txt HTTP/1.1${CRLF}Host: x${CRLF}Connection: close${CRLF}${CRLF}" 5
if [[ "$(head -n1 "$tmp/r" | tr -d '\r')" == "HTTP/1.1 304 Not Modified" ]] &&
  [[ "$(grep -c $'^HTTP/1.1 ' "$tmp/r")" == 2 ]] && ! grep -q '^alpha' "$tmp/r" &&
  [[ "$(tail -c 6 "$tmp/r")" == "bravo" ]]; then
  ok "304 sends no body (a pipelined GET after it parses cleanly)"
else
  bad "304 sends no body" "got: $(head -c 400 "$tmp/r" | tr '\r\n' '  ')"
fi
code="$(c -o "$tmp/b" -w '%{http_code}' -H 'If-None-Match: "no-such-tag"' "$base/a.txt")"
check_eq "If-None-Match with another tag -> 200" 200 "$code"
code="$(c -o "$tmp/b" -w '%{http_code}' -H "If-None-Match: \"x\", $etag" "$base/a.txt")"
check_eq "If-None-Match with a list holding the ETag -> 304" 304 "$code"
code="$(c -o "$tmp/b" -w '%{http_code}' -H "If-Modified-Since: $lm" "$base/a.txt")"
check_eq "If-Modified-Since = Last-Modified -> 304" 304 "$code"
code="$(c -o "$tmp/b" -w '%{http_code}' -H "If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT" "$base/a.txt")"
check_eq "If-Modified-Since before the mtime -> 200" 200 "$code"

section "symlinks"

code="$(c -o "$tmp/b" -w '%{http_code}' "$base/alias.txt")"
if [[ "$code" == 200 ]] && cmp -s "$tmp/b" "$web/a.txt"; then
  ok "a symlink inside the root is served"
else
  bad "a symlink inside the root is served" "status $code"
fi
for p in /passwd-link /etc-link/passwd /etc-link/; do
  code="$(c -o "$tmp/b" -w '%{http_code}' "$base$p")"
  if grep -q 'root:' "$tmp/b"; then
    bad "symlink out of the root $p refused" "status $code and the file's contents were sent"
  else
    check_in "symlink out of the root $p refused" "$code" 400 403 404
  fi
done

section "path traversal"

for p in '/../../../../../../etc/passwd' '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd' \
  '/%2E%2E/%2E%2E/%2E%2E/etc/passwd' '/sub/..%2f..%2f..%2f..%2fetc/passwd' \
  '/sub/%2e%2e/%2e%2e/%2e%2e/etc/passwd' '/a.txt%00.html' '/%00' '/sub/%2e%2e/a.txt'; do
  code="$(c --path-as-is -o "$tmp/b" -w '%{http_code}' "$base$p")"
  if grep -q 'root:' "$tmp/b" || grep -q '^alpha' "$tmp/b"; then
    bad "traversal $p refused" "status $code and a file was sent"
  else
    check_in "traversal $p refused" "$code" 400 404
  fi
done
raw "$tmp/r" "GET ../../../etc/passwd HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}" 3
code="$(status_line_code "$tmp/r")"
if grep -q 'root:' "$tmp/r"; then bad "request-target without a leading slash refused" "file sent"; else check_in "request-target without a leading slash refused" "$code" 400 404; fi

section "keep-alive and pipelining"

c -v -o /dev/null -o /dev/null "$base/a.txt" "$base/b.txt" 2>"$tmp/v"
if grep -q 'Re-using' "$tmp/v"; then ok "keep-alive: curl re-used the connection"; else bad "keep-alive" "curl did not re-use the connection"; fi

raw "$tmp/r" "GET /a.txt HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}GET /b.txt HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}GET /sub/ HTTP/1.1${CRLF}Host: x${CRLF}Connection: close${CRLF}${CRLF}" 5
rc=$?
n200="$(grep -c $'^HTTP/1.1 200' "$tmp/r")"
order="$(grep -aE '^(alpha|bravo|sub index)$' "$tmp/r" | tr '\n' ',')"
if [[ "$n200" == 3 && "$order" == "alpha,bravo,sub index," ]]; then
  ok "pipelining: three requests in one write, three responses in order"
else
  bad "pipelining" "got $n200 responses, bodies in order '$order'"
fi
check_eq "Connection: close closes the connection" 0 "$rc"

raw "$tmp/r" "GET /a.txt HTTP/1.0${CRLF}${CRLF}" 5
rc=$?
check_eq "HTTP/1.0 without Host -> 200" 200 "$(status_line_code "$tmp/r")"
check_eq "HTTP/1.0 closes after the response" 0 "$rc"

section "bad input"

# bad_input DESCRIPTION EXPECTED-STATUS BYTES: the status, then that the server closes promptly.
bad_input() {
  local t0 t1 rc code
  t0="$(now_ms)"
  raw "$tmp/r" "$3" 2
  rc=$?
  t1="$(now_ms)"
  code="$(status_line_code "$tmp/r")"
  check_eq "$1 -> $2" "$2" "$code"
  if [[ "$rc" == 0 ]]; then
    ok "$1: connection closed after the $code ($((t1 - t0)) ms)"
  else
    bad "$1: connection closed after the answer" "still open after 2 s"
  fi
}

bad_input "garbage request line" 400 "GARBAGE${CRLF}${CRLF}"
bad_input "request line with no version" 400 "GET /${CRLF}Host: x${CRLF}${CRLF}"
bad_input "header without a colon" 400 "GET / HTTP/1.1${CRLF}Host: x${CRLF}NoColonHere${CRLF}${CRLF}"
bad_input "space before the colon" 400 "GET / HTTP/1.1${CRLF}Host : x${CRLF}${CRLF}"
bad_input "obs-fold continuation line" 400 "GET / HTTP/1.1${CRLF}Host: x${CRLF}X-A: 1${CRLF} folded${CRLF}${CRLF}"
bad_input "HTTP/1.1 without Host" 400 "GET / HTTP/1.1${CRLF}Accept: */*${CRLF}${CRLF}"
bad_input "two Host headers" 400 "GET / HTTP/1.1${CRLF}Host: x${CRLF}Host: y${CRLF}${CRLF}"
bad_input "bad Content-Length" 400 "POST / HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: 12abc${CRLF}${CRLF}"
bad_input "Content-Length and Transfer-Encoding" 400 \
  "POST / HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: 5${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}0${CRLF}${CRLF}"
bad_input "HTTP/2.0 request line" 505 "GET / HTTP/2.0${CRLF}Host: x${CRLF}${CRLF}"

big="$(head -c 20000 /dev/zero | tr '\0' 'a')"
bad_input "header section over 16384 bytes" 431 "GET / HTTP/1.1${CRLF}Host: x${CRLF}X-Big: ${big}${CRLF}${CRLF}"
many=""
for i in $(seq 1 101); do many+="X-H-$i: v${CRLF}"; done
bad_input "101 headers" 431 "GET / HTTP/1.1${CRLF}Host: x${CRLF}${many}${CRLF}"
bad_input "Content-Length over the body limit" 413 \
  "POST / HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: 2000000${CRLF}${CRLF}"

code="$(c -X BREW -o "$tmp/b" -w '%{http_code}' "$base/a.txt")"
check_eq "unknown method BREW on a static file -> 405" 405 "$code"
code="$(c -X DELETE -o "$tmp/b" -w '%{http_code}' "$base/a.txt")"
check_eq "DELETE on a static file -> 405" 405 "$code"

# A request that stalls half-way gets 408, then the connection closes, after the request timeout.
t0="$(now_ms)"
raw "$tmp/r" "GET /a.txt HTTP/1.1${CRLF}Host: x${CRLF}" 15
rc=$?
t1="$(now_ms)"
elapsed=$((t1 - t0))
check_eq "stalled request -> 408" 408 "$(status_line_code "$tmp/r")"
if [[ "$rc" == 0 && "$elapsed" -ge $((REQUEST_TIMEOUT_MS - 500)) && "$elapsed" -le $((REQUEST_TIMEOUT_MS + 4000)) ]]; then
  ok "stalled request closed after $elapsed ms (timeout $REQUEST_TIMEOUT_MS ms)"
else
  bad "stalled request closed after the request timeout" "closed=$([[ $rc == 0 ]] && echo yes || echo no) after $elapsed ms"
fi

section "a large file"

code="$(c -D "$tmp/h" -o "$tmp/big" -w '%{http_code}' "$base/big.bin")"
check_eq "GET /big.bin (20 MiB) status" 200 "$code"
want="$(sha256sum <"$web/big.bin" | cut -d' ' -f1)"
got="$(sha256sum <"$tmp/big" | cut -d' ' -f1)"
check_eq "GET /big.bin body intact (sha256)" "$want" "$got"
rm -f "$tmp/big"
code="$(c -I -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' "$base/big.bin")"
check_eq "HEAD /big.bin status" 200 "$code"
check_eq "HEAD /big.bin content-length" 20971520 "$(header "$tmp/h" content-length)"
ct="$(header "$tmp/h" content-type)"
check_eq "HEAD /big.bin content-type" "application/octet-stream" "$ct"

section "abrupt disconnects"

# Half-sent requests, requests for the big file dropped before reading, and bare connects.
dropped=0
for i in $(seq 1 200); do
  if { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
    case $((i % 4)) in
      0) printf 'GET /a.txt HT' 1>&"$fd" 2>/dev/null ;;
      1) printf 'GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n' 1>&"$fd" 2>/dev/null ;;
      2) printf 'GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n' 1>&"$fd" 2>/dev/null ;;
      3) ;;
    esac
    exec {fd}<&-
    dropped=$((dropped + 1))
  fi
done
check_eq "200 connections dropped mid-request" 200 "$dropped"
sleep 0.5
if kill -0 "$pid" 2>/dev/null; then ok "server still running after the drops"; else bad "server still running after the drops"; fi
code="$(c -o "$tmp/b" -w '%{http_code}' "$base/")"
check_eq "GET / after the drops" 200 "$code"

section "shutdown"

# Leave an idle keep-alive connection open: shutdown must not wait for it.
idle=""
if { exec {idle}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
  printf 'GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n' 1>&"$idle" 2>/dev/null
fi
sleep 0.2
tc_stop_pid "$pid" 5
if [[ "$stopped_killed" == 1 ]]; then
  bad "SIGTERM: exits within 5 s" "still running; killing it"
else
  check_eq "SIGTERM: exit code ($stopped_ms ms)" 0 "$stopped_rc"
fi
pid=""
[[ -n "$idle" ]] && exec {idle}<&-

if ! sanitizer_free "no sanitizer reports on stderr" "$tmp/stderr"; then
  echo "---- tincan stderr (last 60 lines) ----"
  tail -n 60 "$tmp/stderr"
fi

echo "$((passed + failed)) checks, $failed failed"
[[ "$failed" == 0 ]]
