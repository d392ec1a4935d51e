#!/usr/bin/env bash
# Installs what building and testing tincan needs on Debian 12, and nothing when it is all there.
#
#   scripts/deps.sh          build and test dependencies (and `npm ci` when package.json asks)
#   scripts/deps.sh bench    the same, plus wrk and nginx-light for bench/http_wrk.sh, and
#                            libwebsockets-dev and pkg-config for bench/ws_echo.sh
#
# Silent when everything is present; safe to run with no terminal (CI).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

want=(cmake make gcc clang libclang-rt-14-dev pkg-config libuv1-dev zlib1g-dev libssl-dev libjansson-dev curl)
# cmark renders the learning notes (docs/notes/) that tincan serves at /notes/.
want+=(libcmark-dev)
# Real peers for the WebSocket interop and browser tests, and openssl to make their certificates.
want+=(openssl python3-websockets chromium)
# coturn's turnutils_stunclient and aioice (aiortc's ICE library) are the real STUN clients of the
# STUN interop test; iproute2 and util-linux give the browser call test its loopback-only network
# namespace, and nftables the NAT of the STUN test's network lab.
want+=(coturn python3-aioice iproute2 util-linux nftables)
# A node from elsewhere (e.g. a newer one) is fine; Debian's would only get in its way.
if ! command -v node >/dev/null 2>&1; then
  want+=(nodejs npm)
fi

for group in "$@"; do
  case "$group" in
    bench) want+=(wrk nginx-light libwebsockets-dev pkg-config) ;;
    *)
      echo "deps.sh: unknown group '$group' (known: bench)" >&2
      exit 2
      ;;
  esac
done

installed() {
  local status
  status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" || return 1
  [[ "$status" == "install ok installed" ]]
}

missing=()
for pkg in "${want[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]})); then
  if [[ "$(id -u)" -eq 0 ]]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
  else
    echo "deps.sh: missing packages: ${missing[*]} (run as root or install sudo)" >&2
    exit 1
  fi
  echo "deps.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >/dev/null
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" </dev/null >/dev/null
  # coturn is here for its test clients; its packaged service would start a TURN server on 3478,
  # the port tincan's own STUN server wants.
  if [[ " ${missing[*]} " == *" coturn "* ]] && command -v systemctl >/dev/null 2>&1; then
    "${as_root[@]}" systemctl disable --now coturn >/dev/null 2>&1 || true
  fi
fi

# Interop tests use pinned npm packages when the repo declares some.
if [[ -f "$root/package.json" ]]; then
  if [[ ! -d "$root/node_modules" ]] ||
    { [[ -f "$root/package-lock.json" ]] && [[ "$root/package-lock.json" -nt "$root/node_modules" ]]; }; then
    if [[ -f "$root/package-lock.json" ]]; then
      (cd "$root" && npm ci --no-audit --no-fund --loglevel=error </dev/null >/dev/null)
    else
      (cd "$root" && npm install --no-audit --no-fund --loglevel=error </dev/null >/dev/null)
    fi
    # npm ci may leave the folder's own mtime older than the lock file (or, with no dependencies,
    # create no folder at all); the next run must not redo it.
    mkdir -p "$root/node_modules"
    touch "$root/node_modules"
  fi
fi
