# shellcheck shell=bash
# Shared by the benchmark scripts (sourced, not run): CPU pinning, descriptor limits, stopping
# servers, free ports and what /proc says of a process. The sourcing script names itself in
# BENCH_NAME for its messages.

die() {
  echo "${BENCH_NAME:-bench}: $*" >&2
  exit 1
}

# The servers take CPU 0 in turn and the load generator CPU 1, so the load never competes with
# the server it measures, and each server has one core, as tincan's one event loop does.
# shellcheck disable=SC2034 # server_cpu and client_cpu are for the sourcing script
bench_pin_cpus() { # what shares the CPU on a one-CPU machine, for the warning
  server_cpu=0
  client_cpu=1
  if [[ "$(nproc)" -lt 2 ]]; then
    client_cpu=0
    echo "warning: one CPU only; $1 share it" >&2
  fi
}

# Raises the open file limit as far as allowed for n connections (one descriptor in the server
# and one in the load generator each), and stops when it is still too low.
bench_raise_fd_limit() { # n
  local want=$(($1 + 1024)) hard
  ((want < 65536)) && want=65536
  ulimit -n "$want" 2>/dev/null || {
    hard="$(ulimit -Hn)"
    [[ "$hard" == unlimited ]] || ulimit -n "$hard" 2>/dev/null || true
  }
  (($(ulimit -n) >= $1 + 64)) ||
    die "open file limit $(ulimit -n) is too low for $1 connections (run as root, or raise the hard limit)"
}

stop() { # pid: SIGTERM, then SIGKILL after about 6 s
  [[ -n "$1" ]] || return 0
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 1 60); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 12000)) # below the ephemeral range, where the load's own ports live
    if port_free "$p"; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# bench_scratch NAME: makes the scratch folder $tmp and, on exit (or INT/TERM), stops the server
# $srv_pid and the load $load_pid still running and removes $tmp.
bench_scratch() {
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/tincan-$1.XXXXXX")"
  srv_pid=""
  load_pid=""
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}
# shellcheck disable=SC2317 # run by the EXIT trap
bench_cleanup() {
  stop "$load_pid"
  stop "$srv_pid"
  rm -rf "$tmp"
}

# wait_listening PORT LOG: waits (up to 10 s) until the server $srv_pid accepts on PORT; with PORT
# empty, the port is read from a "listening on N" line in LOG. Sets $srv_port and returns 0; else
# notes why in LOG, stops the server, clears $srv_pid and returns 1.
wait_listening() {
  local p=$1 log=$2 rc
  for _ in $(seq 1 200); do
    kill -0 "$srv_pid" 2>/dev/null || break
    [[ -n "$p" ]] || p="$(sed -nE 's/.*listening on ([0-9]+).*/\1/p' "$log" | head -n1)"
    if [[ -n "$p" ]] && ! port_free "$p"; then
      # shellcheck disable=SC2034 # for the sourcing script
      srv_port="$p"
      return 0
    fi
    sleep 0.05
  done
  if kill -0 "$srv_pid" 2>/dev/null; then
    echo "(no listening port after 10 s)" >>"$log"
  else
    wait "$srv_pid" 2>/dev/null && rc=0 || rc=$?
    echo "(exited with status $rc)" >>"$log"
  fi
  stop "$srv_pid"
  srv_pid=""
  return 1
}

cpu_ticks() { # pid: "utime stime" of the whole process, in clock ticks (fields 14, 15 of stat)
  # The command name (field 2) may hold spaces; count from after its closing parenthesis.
  sed 's/.*) //' "/proc/$1/stat" | awk '{print $12, $13}'
}
vm_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
