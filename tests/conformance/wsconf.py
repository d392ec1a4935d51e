#!/usr/bin/python3
"""wsconf: a WebSocket conformance suite (RFC 6455, RFC 7692) for tincan's server and client.

The cases follow the groups of the Autobahn|Testsuite (1 framing, 2 ping/pong, 3 reserved bits,
4 opcodes, 5 fragmentation, 6 UTF-8, 7 close, 9 large messages, 10 auto-fragmentation, 12/13
permessage-deflate) with the same frames and the same expected outcomes, plus a few extras that
are marked as such. Every case runs on a fresh connection.

  wsconf.py server [ws://HOST:PORT/echo]
      We are a strict client. Without a URL, starts $TINCAN_BIN (or --tincan-bin) on a free port
      and uses its /echo route, which sends every message back with its type.
  wsconf.py client --client-bin PATH   (or $WS_ECHO_CLIENT)
      We are the server: for each case we start the echo client (ws_echo_client.c) against our
      listening socket and judge how it answers.

One line per case: "ID OK", "ID NON-STRICT: ...", "ID INFO: ...", or "ID FAIL: ...", then a
summary. NON-STRICT is an outcome Autobahn itself lists as acceptable but not strict (for example
failing a connection one frame later than possible); it does not fail the run unless --strict is
given. The exit status is non-zero when any case fails.

Standard library only: run with /usr/bin/python3.
"""

import argparse
import base64
import hashlib
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

sys.dont_write_bytecode = True  # keep the source tree clean when run from it
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsconf_cases  # noqa: E402
from wsconf_ext import client_deflate, server_deflate  # noqa: E402

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_NAMES = {0: "cont", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:")

# How long we give the peer to react, in seconds. Generous: the test build runs under ASan.
T_REACT = 5.0
T_BIG = 60.0


def valid_close_code(code):
    return code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014) or (
        3000 <= code <= 4999)


def xor_mask(data, key):
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def build_frame(opcode, payload=b"", fin=True, rsv=0, mask=None, length=None):
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    n = len(payload) if length is None else length
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr = bytes([b0, mbit | n])
    elif n < 65536:
        hdr = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        hdr = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if mask:
        return hdr + mask + xor_mask(payload, mask)
    return hdr + payload


def describe(ev):
    kind = ev[0]
    if kind == "message":
        op, p = ev[1], ev[2]
        name = OP_NAMES.get(op, str(op))
        if len(p) <= 40:
            return "%s(%r)" % (name, p)
        return "%s(len=%d, sha1=%s)" % (name, len(p), hashlib.sha1(p).hexdigest()[:10])
    if kind in ("pong", "ping"):
        p = ev[1]
        return "%s(%r)" % (kind, p if len(p) <= 40 else b"<%d bytes>" % len(p))
    if kind == "timeout":
        return "timeout(%s)" % ev[1]
    return repr(ev)


def describe_list(evs):
    return "[" + ", ".join(describe(e) for e in evs) + "]"


# ---- A connection ----------------------------------------------------------------------------

class Session:
    """One WebSocket connection in which we play the peer of the endpoint under test. A reader
    thread parses what arrives into events and checks every frame the endpoint sends."""

    def __init__(self, sock, we_are_client, initial=b"", deflate=None, proc=None):
        self.sock = sock
        self.client = we_are_client
        self.proc = proc
        self.deflate = deflate  # dict: rx_bits, rx_nct, tx_bits, tx_nct; None when not negotiated
        self.tx = None
        self.rx = None
        self.cv = threading.Condition()
        self.events = []
        self.violations = []
        self.errors = []  # failures found by the case itself (roundtrips)
        self.close_rx = None  # (code or None, reason) of the endpoint's close frame
        self.close_sent = None  # the code we sent (0 for a close without code)
        self.closed_by_me = None
        self.eof = None  # why the TCP connection ended (text), once it did
        self.send_error = None
        self.last_key = None
        self.frag = None  # [opcode, compressed, [payloads], frames] of the message being received
        self.buf = bytearray(initial)
        self.need = 2
        self.stop = False
        self.send_lock = threading.Lock()
        self.expectation = None
        self.cursor = 0  # events already consumed by roundtrips
        self.thread = threading.Thread(target=self._read_loop, daemon=True)
        self.thread.start()

    # -- receiving --

    def _event(self, ev):
        with self.cv:
            self.events.append(ev)
            self.cv.notify_all()

    def _violation(self, msg):
        with self.cv:
            if len(self.violations) < 5:
                self.violations.append(msg)
            self.cv.notify_all()

    def _read_loop(self):
        try:
            self._parse()
            while not self.stop:
                r, _, _ = select.select([self.sock], [], [], 0.1)
                if not r:
                    continue
                try:
                    data = self.sock.recv(1 << 20)
                except (ConnectionResetError, OSError) as e:
                    self._end("reset (%s)" % e.__class__.__name__)
                    return
                if not data:
                    self._end("closed")
                    return
                self.buf += data
                if len(self.buf) >= self.need:
                    self._parse()
        except Exception as e:  # a bug here must show up as a failure, not a hang
            self._violation("suite error while reading: %r" % e)
            self._end("suite error")

    def _end(self, why):
        with self.cv:
            if self.eof is None:
                self.eof = why
            self.cv.notify_all()

    def _parse(self):
        b = self.buf
        while True:
            if len(b) < 2:
                self.need = 2
                return
            b0, b1 = b[0], b[1]
            n, off = b1 & 0x7F, 2
            if n == 126:
                if len(b) < 4:
                    self.need = 4
                    return
                n, off = struct.unpack_from("!H", b, 2)[0], 4
                if n < 126:
                    self._violation("length %d sent in the 16-bit form (must be minimal)" % n)
            elif n == 127:
                if len(b) < 10:
                    self.need = 10
                    return
                n, off = struct.unpack_from("!Q", b, 2)[0], 10
                if n < 65536 or n >> 63:
                    self._violation("length %d sent in the 64-bit form" % n)
            masked = b1 & 0x80
            key = None
            if masked:
                if len(b) < off + 4:
                    self.need = off + 4
                    return
                key = bytes(b[off:off + 4])
                off += 4
            if len(b) < off + n:
                self.need = off + n
                return
            payload = bytes(b[off:off + n])
            del b[:off + n]
            if masked:
                payload = xor_mask(payload, key)
            self._frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, key, payload)

    def _frame(self, fin, rsv, op, key, payload):
        if self.close_rx is not None:
            self._violation("%s frame after its close frame" % OP_NAMES.get(op, op))
            return
        if self.client and key is not None:
            self._violation("the server sent a masked frame")
        if not self.client:
            if key is None:
                self._violation("the client sent an unmasked frame")
            elif key == self.last_key:
                self._violation("the client reused the mask key %s" % key.hex())
            self.last_key = key
        if rsv & 3:
            self._violation("frame with RSV2/RSV3 set")
        if rsv & 4 and (self.deflate is None or op not in (1, 2)):
            self._violation("RSV1 set on a %s frame%s" % (
                OP_NAMES.get(op, op), "" if self.deflate else " without permessage-deflate"))
        if op in (3, 4, 5, 6, 7) or op > 10:
            self._violation("reserved opcode %d" % op)
            return
        if op >= 8:
            if not fin or len(payload) > 125:
                self._violation("fragmented or over-long control frame")
            if op == 9:
                self._event(("ping", payload))
            elif op == 10:
                self._event(("pong", payload))
            else:
                self._close_frame(payload)
            return
        if op == 0:
            if self.frag is None:
                self._violation("continuation frame without a message")
                return
            self.frag[2].append(payload)
            self.frag[3] += 1
        else:
            if self.frag is not None:
                self._violation("new data frame inside a fragmented message")
            self.frag = [op, bool(rsv & 4), [payload], 1]
        if fin:
            op, compressed, parts, frames = self.frag
            self.frag = None
            data = b"".join(parts)
            if compressed:
                data = self._inflate(data)
                if data is None:
                    return
            if op == 1:
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError as e:
                    self._violation("text message is not UTF-8: %s" % e)
            self._event(("message", op, data, {"frames": frames, "compressed": compressed}))

    def _inflate(self, data):
        d = self.deflate
        if self.rx is None or d["rx_nct"] or self.rx.eof:
            self.rx = zlib.decompressobj(wbits=-d["rx_bits"])
        try:
            out = self.rx.decompress(data + b"\x00\x00\xff\xff")
        except zlib.error as e:
            self._violation("compressed message does not inflate with a %d-bit window%s: %s" % (
                d["rx_bits"], " and no context takeover" if d["rx_nct"] else "", e))
            self.rx = None
            return None
        return out

    def _close_frame(self, payload):
        code, reason = None, b""
        if len(payload) == 1:
            self._violation("close frame with a 1-byte payload")
        elif len(payload) >= 2:
            code = struct.unpack("!H", payload[:2])[0]
            reason = payload[2:]
            if not valid_close_code(code):
                self._violation("close frame with invalid code %d" % code)
            try:
                reason.decode("utf-8")
            except UnicodeDecodeError:
                self._violation("close reason is not UTF-8")
        with self.cv:
            self.close_rx = (code, reason)
            self.events.append(("close", code, reason))
            self.cv.notify_all()

    # -- waiting --

    def is_open(self):
        with self.cv:
            return self.close_rx is None and self.eof is None and self.close_sent is None

    def wait_until(self, pred, timeout):
        end = time.monotonic() + timeout
        with self.cv:
            while not pred():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(min(left, 0.5))
            return True

    def wait(self, secs, label=None):
        """Waits secs; when the connection is still open then, records ("timeout", label) as
        Autobahn does, and returns True."""
        time.sleep(secs)
        if not self.is_open():
            return False
        if label is not None:
            self._event(("timeout", label))
        return True

    def next_message(self, timeout):
        """The next message event after the cursor (skipping pings and pongs), or None."""
        found = []

        def pred():
            while self.cursor < len(self.events):
                ev = self.events[self.cursor]
                self.cursor += 1
                if ev[0] == "message":
                    found.append(ev)
                    return True
            return self.close_rx is not None or self.eof is not None or bool(self.violations)

        self.wait_until(pred, timeout)
        return found[0] if found else None

    # -- sending --

    def _key(self):
        return os.urandom(4) if self.client else None

    def build(self, op, payload=b"", fin=True, rsv=0):
        """The bytes of one frame as we would send it."""
        return build_frame(op, payload, fin, rsv, self._key())

    describe = staticmethod(describe)

    def _send(self, data, chop=None, delay=None):
        if self.send_error:
            return False
        if chop and delay is None:
            # Small chopped sends are spaced out so they really arrive piece by piece.
            delay = 0.0005 if len(data) <= 4096 else 0
        try:
            with self.send_lock:
                if not chop:
                    self.sock.sendall(data)
                else:
                    for i in range(0, len(data), chop):
                        self.sock.sendall(data[i:i + chop])
                        if delay:
                            time.sleep(delay)
            return True
        except OSError as e:
            self.send_error = "%s" % e.__class__.__name__
            return False

    def frame(self, op, payload=b"", fin=True, rsv=0, chop=None, length=None, sync=False):
        """Sends one frame (masked when we are the client). sync: pause after it, so that it
        travels on its own (Autobahn's frame-wise chops)."""
        ok = self._send(build_frame(op, payload, fin, rsv, self._key(), length), chop)
        if sync:
            time.sleep(0.002)
        return ok

    def frames(self, specs):
        """Sends many (op, payload, fin, rsv) frames in one write."""
        return self._send(b"".join(build_frame(op, p, fin, rsv, self._key())
                                   for op, p, fin, rsv in specs))

    def raw(self, data, chop=None):
        return self._send(data, chop)

    def compress(self, payload):
        d = self.deflate
        if self.tx is None or d["tx_nct"]:
            # zlib has no raw 8-bit window; with 9 bits it never reaches back more than 250 bytes.
            self.tx = zlib.compressobj(6, zlib.DEFLATED, -max(9, d["tx_bits"]))
        out = self.tx.compress(payload) + self.tx.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]

    def message(self, op, payload, compress=None, frag=0, chop=None):
        """Sends a whole message: compressed when deflate is on (unless compress=False), split
        into frames of at most frag bytes when frag is set."""
        if compress is None:
            compress = self.deflate is not None
        data = self.compress(payload) if compress else payload
        if not frag or len(data) <= frag:
            return self.frame(op, data, True, 4 if compress else 0, chop)
        specs = []
        for i in range(0, len(data), frag):
            specs.append((op if i == 0 else 0, data[i:i + frag], i + frag >= len(data),
                          4 if compress and i == 0 else 0))
        return self.frames(specs)

    def close(self, code=None, reason=b"", payload=None, rsv=0):
        """Sends a close frame (payload overrides code and reason)."""
        if payload is None:
            payload = b"" if code is None else struct.pack("!H", code) + reason
        with self.cv:
            if self.close_sent is None:
                self.close_sent = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 0
                if self.closed_by_me is None:
                    self.closed_by_me = self.close_rx is None
        return self.frame(8, payload, rsv=rsv)

    def roundtrip(self, op, payload, compress=None, frag=0, timeout=T_REACT, what=""):
        """Sends a message and checks that the next message is its echo. False on failure."""
        if self.errors:
            return False
        if not self.message(op, payload, compress, frag):
            self.errors.append("%ssend failed: %s" % (what, self.send_error))
            return False
        ev = self.next_message(timeout)
        if ev is None and self.violations:
            return False  # the violation says why
        if ev is None:
            self.errors.append("%sno echo for %s within %.0f s" % (
                what, describe(("message", op, payload)), timeout))
            return False
        if ev[1] != op or ev[2] != payload:
            self.errors.append("%sexpected echo %s, got %s" % (
                what, describe(("message", op, payload)), describe(ev)))
            return False
        return True

    def expect(self, ok=(), non_strict=None, by_me=True, codes=(1000,), clean=True, info=False,
               timeout=T_REACT, no_compare=False):
        self.expectation = dict(ok=list(ok), non_strict=non_strict, by_me=by_me, codes=codes,
                                clean=clean, info=info, timeout=timeout, no_compare=no_compare)

    def shutdown(self):
        self.stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(2)
        self.sock.close()


# ---- Judging a case --------------------------------------------------------------------------

def finish(s, role):
    """Ends the connection the way Autobahn does and returns facts for judge()."""
    e = s.expectation
    facts = {}
    if e["by_me"] and s.is_open():
        s.close(1000)
    got_close = s.wait_until(lambda: s.close_rx is not None or s.eof is not None, e["timeout"])
    facts["timed_out"] = not got_close
    if s.close_rx is not None and s.close_sent is None:
        code = s.close_rx[0]
        # Answer the peer's close as Autobahn does: with its code when that may be sent.
        s.close(code if code is not None and valid_close_code(code) else None)
    if role == "server":
        # The server closes TCP first (RFC 6455 section 7.1.1).
        facts["tcp_closed"] = s.wait_until(lambda: s.eof is not None, 3.0)
    else:
        if s.close_rx is not None:
            time.sleep(0.01)  # let the client's last bytes arrive before we cut
        facts["tcp_closed"] = True
    s.shutdown()
    return facts


def judge(s, facts):
    """(status, detail): status is OK, NON-STRICT, INFO or FAIL."""
    e = s.expectation
    problems = list(s.violations) + list(s.errors)
    got = [ev[:3] for ev in s.events if ev[0] in ("message", "pong", "timeout")]
    behaviour = "OK"
    if not e["no_compare"]:
        want = [tuple(x) for x in e["ok"]]
        if got == want:
            behaviour = "OK"
        elif e["non_strict"] is not None and got == [tuple(x) for x in e["non_strict"]]:
            behaviour = "NON-STRICT"
        else:
            problems.append("expected %s, got %s" % (describe_list(want), describe_list(got)))
    if e["info"]:
        return ("FAIL" if s.violations else "INFO",
                "; ".join(s.violations) or "events %s, close %s" % (describe_list(got),
                                                                   s.close_rx))
    close = s.close_rx
    if facts["timed_out"]:
        if e["by_me"]:
            problems.append("no close frame in answer to ours within %.0f s" % e["timeout"])
        else:
            problems.append("the connection was not failed within %.0f s (expected close %s)" % (
                e["timeout"], "/".join(map(str, e["codes"]))))
    elif close is None:
        problems.append("TCP closed (%s) without a close frame; expected close %s" % (
            s.eof, "/".join(map(str, e["codes"]))))
    else:
        code = close[0]
        if bool(s.closed_by_me) != e["by_me"]:
            if e["by_me"]:
                problems.append("the peer failed the connection: close %s %r" % (code, close[1]))
            else:
                problems.append("the peer did not fail the connection; it answered our close")
        if code not in e["codes"] and not (e["by_me"] and code is None and 1000 in e["codes"]):
            problems.append("close code %s, expected %s" % (code, "/".join(map(str, e["codes"]))))
        if not facts["tcp_closed"]:
            problems.append("the server did not close TCP within 3 s of the closing handshake")
    if problems:
        return "FAIL", "; ".join(problems)
    if behaviour == "NON-STRICT":
        return "NON-STRICT", "got %s; the strict outcome is %s" % (
            describe_list(got), describe_list([tuple(x) for x in e["ok"]]))
    return "OK", ""


# ---- Server mode: we are the client ----------------------------------------------------------

class TincanServer:
    """A tincan process on a free port; its stderr is kept for the sanitizer check."""

    def __init__(self, binary):
        self.log = []
        self.proc = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", "0"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.port = None
        ready = threading.Event()

        def drain():
            for line in self.proc.stderr:
                text = line.decode("utf-8", "replace").rstrip("\n")
                self.log.append(text)
                m = re.search(r"listening on https?://(?:\[[^\]]*\]|[^\s:/]+):(\d+)", text)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(20) or self.port is None:
            self.stop()
            raise RuntimeError("tincan did not start: %s" % "\n".join(self.log[-20:]))

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        time.sleep(0.1)
        return self.proc.returncode


def client_handshake(host, port, path, offer):
    """Connects and upgrades. Returns (sock, leftover bytes, extensions header or None)."""
    sock = socket.create_connection((host, port), timeout=T_REACT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, host, port, key))
    if offer:
        req += "Sec-WebSocket-Extensions: %s\r\n" % offer
    sock.sendall((req + "\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed during the handshake")
        data += chunk
        if len(data) > 65536:
            raise RuntimeError("handshake answer too long")
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    if not re.match(r"HTTP/1\.1 101\b", lines[0]):
        raise RuntimeError("handshake answered %r" % lines[0])
    hdrs = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        hdrs.setdefault(name.strip().lower(), []).append(value.strip())
    accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    if hdrs.get("sec-websocket-accept") != [accept]:
        raise RuntimeError("wrong Sec-WebSocket-Accept %r" % hdrs.get("sec-websocket-accept"))
    if "websocket" not in [t.strip().lower() for v in hdrs.get("upgrade", [])
                           for t in v.split(",")]:
        raise RuntimeError("no Upgrade: websocket in the answer")
    if "upgrade" not in [t.strip().lower() for v in hdrs.get("connection", [])
                         for t in v.split(",")]:
        raise RuntimeError("no Connection: Upgrade in the answer")
    ext = hdrs.get("sec-websocket-extensions")
    return sock, rest, ", ".join(ext) if ext else None


def run_server_case(case, url_host, url_port, url_path):
    spec = case.deflate
    offer = spec.offer if spec else None
    try:
        sock, rest, answer = client_handshake(url_host, url_port, url_path, offer)
    except (OSError, RuntimeError) as e:
        return "FAIL", "handshake: %s" % e
    params, problem = (None, None)
    if spec:
        params, problem = server_deflate(spec, answer)
    elif answer:
        problem = "extensions %r answered though none were offered" % answer
    s = Session(sock, True, rest, params)
    if problem:
        s.shutdown()
        return "FAIL", problem
    if spec and spec.expect_decline:
        s.expect(no_compare=True)
    else:
        try:
            case.run(s)
        except Exception as e:  # a case must not take the suite down
            s.errors.append("suite error: %r" % e)
            if s.expectation is None:
                s.expect(no_compare=True)
    facts = finish(s, "server")
    return judge(s, facts)


# ---- Client mode: we are the server ----------------------------------------------------------

def read_request(conn, timeout):
    conn.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise RuntimeError("the client closed during the handshake")
        data += chunk
        if len(data) > 65536:
            raise RuntimeError("request too long")
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        hdrs.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], hdrs, rest


def check_request(line, hdrs, path):
    m = re.fullmatch(r"GET (\S+) HTTP/1\.1", line)
    if not m or m.group(1) != path:
        return "request line %r, expected GET %s HTTP/1.1" % (line, path)
    if not hdrs.get("host"):
        return "no Host header"
    for name, token in (("upgrade", "websocket"), ("connection", "upgrade")):
        if token not in [t.strip().lower() for v in hdrs.get(name, []) for t in v.split(",")]:
            return "no %s: %s in the request" % (name, token)
    if hdrs.get("sec-websocket-version") != ["13"]:
        return "Sec-WebSocket-Version %r" % hdrs.get("sec-websocket-version")
    key = hdrs.get("sec-websocket-key", [""])
    try:
        if len(key) != 1 or len(base64.b64decode(key[0], validate=True)) != 16:
            return "bad Sec-WebSocket-Key %r" % key
    except ValueError:
        return "bad Sec-WebSocket-Key %r" % key
    return None


class ClientRunner:
    def __init__(self, binary):
        self.binary = binary
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]

    def run(self, case):
        spec = case.deflate
        args = list(spec.client_args) if spec else []
        path = "/case/" + case.id
        errf = tempfile.TemporaryFile()
        proc = subprocess.Popen([self.binary] + args + ["ws://127.0.0.1:%d%s" % (self.port, path)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf)
        try:
            status, detail, s = self._serve(case, spec, proc, path)
        finally:
            try:
                rc = proc.wait(T_REACT)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
                if status != "FAIL":
                    status, detail = "FAIL", "the client did not exit after the connection closed"
            errf.seek(0)
            err = errf.read().decode("utf-8", "replace")
            errf.close()
        problems = [detail] if status == "FAIL" and detail else []
        said = re.findall(r"ws_echo_client: (closed .*|could not connect.*|send of .*)", err)
        if problems and said:
            problems[0] += " (the client said: %s)" % "; ".join(said)[:300]
        if SANITIZER_RE.search(err):
            problems.append("sanitizer report: " + err[-1500:])
        refused = spec is not None and spec.expect_client_refuses
        if refused:
            if rc != 1 or "open" in re.findall(r"ws_echo_client: (open)", err):
                problems.append("the client accepted a handshake answer it must refuse "
                                "(exit %d): %s" % (rc, err.strip()[-300:]))
        elif rc != 0:
            problems.append("client exit status %d: %s" % (rc, err.strip()[-500:]))
        elif s is not None and not case.info and status != "FAIL":
            m = re.search(r"ws_echo_client: closed (\d+)", err)
            want = reported_code(s)
            if m is None or int(m.group(1)) != want:
                problems.append("the client reported close %s, expected %s" % (
                    m.group(1) if m else "nothing", want))
        if problems:
            return "FAIL", "; ".join(problems)
        return status, detail

    def _serve(self, case, spec, proc, path):
        self.lsock.settimeout(T_REACT)
        try:
            conn, _ = self.lsock.accept()
        except socket.timeout:
            return "FAIL", "the client did not connect", None
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            line, hdrs, rest = read_request(conn, T_REACT)
        except (OSError, RuntimeError) as e:
            conn.close()
            return "FAIL", "handshake: %s" % e, None
        problem = check_request(line, hdrs, path)
        offer = ", ".join(hdrs.get("sec-websocket-extensions", [])) or None
        answer, params, p2 = client_deflate(spec, offer)
        problem = problem or p2
        if problem:
            conn.close()
            return "FAIL", problem, None
        key = hdrs["sec-websocket-key"][0].encode()
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        resp = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Accept: %s\r\n" % accept)
        if answer:
            resp += "Sec-WebSocket-Extensions: %s\r\n" % answer
        conn.settimeout(T_BIG)
        try:
            conn.sendall((resp + "\r\n").encode())
        except OSError as e:
            conn.close()
            return "FAIL", "handshake: %s" % e, None
        if spec is not None and spec.expect_client_refuses:
            # The client must close without opening; give it the time it needs.
            try:
                proc.wait(T_REACT)
            except subprocess.TimeoutExpired:
                pass
            conn.close()
            return "OK", "", None
        s = Session(conn, False, rest, params, proc)
        try:
            case.run(s)
        except Exception as e:
            s.errors.append("suite error: %r" % e)
            if s.expectation is None:
                s.expect(no_compare=True)
        facts = finish(s, "client")
        status, detail = judge(s, facts)
        return status, detail, s


def reported_code(s):
    """The code the client's on_close should report: the peer's code, or its own after it
    failed the connection (1005 when a close frame carried none)."""
    theirs = s.close_rx[0] if s.close_rx else None
    if s.closed_by_me and (theirs is None or theirs == s.close_sent):
        return s.close_sent or 1005
    return theirs if theirs is not None else 1005


# ---- Main ------------------------------------------------------------------------------------

def selected(cases, patterns):
    if not patterns:
        return cases
    out = []
    for c in cases:
        for p in patterns:
            if c.id == p or c.id.startswith(p + "."):
                out.append(c)
                break
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["server", "client"])
    ap.add_argument("url", nargs="?", help="server mode: ws://HOST:PORT/PATH of an echo endpoint")
    ap.add_argument("--tincan-bin", default=os.environ.get("TINCAN_BIN"))
    ap.add_argument("--client-bin", default=os.environ.get("WS_ECHO_CLIENT"))
    ap.add_argument("--cases", help="comma-separated case ids or group prefixes, e.g. 6.4,7.3.2")
    ap.add_argument("--strict", action="store_true", help="count NON-STRICT outcomes as failures")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--quiet", action="store_true", help="print only cases that are not OK")
    ap.add_argument("--max-time", type=float, default=240,
                    help="seconds after which the remaining cases fail unrun (default 240)")
    args = ap.parse_args()

    cases = selected(wsconf_cases.all_cases(), args.cases.split(",") if args.cases else None)
    cases = [c for c in cases if (c.deflate is None or
                                  (c.deflate.offer is not None if args.mode == "server"
                                   else c.deflate.client_args is not None))]
    if args.list:
        for c in cases:
            print("%-10s %s" % (c.id, c.desc))
        return 0

    server = None
    runner = None
    if args.mode == "server":
        if args.url:
            m = re.fullmatch(r"ws://([^/:]+):(\d+)(/.*)?", args.url)
            if not m:
                ap.error("expected ws://HOST:PORT/PATH")
            host, port, path = m.group(1), int(m.group(2)), m.group(3) or "/"
        else:
            if not args.tincan_bin:
                ap.error("give a URL, or the tincan binary with --tincan-bin or $TINCAN_BIN")
            server = TincanServer(args.tincan_bin)
            host, port, path = "127.0.0.1", server.port, "/echo"
        run = lambda c: run_server_case(c, host, port, path)  # noqa: E731
    else:
        if not args.client_bin:
            ap.error("give the echo client with --client-bin or $WS_ECHO_CLIENT")
        runner = ClientRunner(args.client_bin)
        run = runner.run

    counts = {"OK": 0, "NON-STRICT": 0, "INFO": 0, "FAIL": 0}
    failed = []
    started = time.monotonic()
    for c in cases:
        t0 = time.monotonic()
        if t0 - started > args.max_time:
            status, detail = "FAIL", "not run: the suite passed --max-time %.0f s" % args.max_time
        elif server is not None and not server.alive():
            status, detail = "FAIL", "the server process is gone (exit %s)" % server.proc.poll()
        else:
            status, detail = run(c)
        counts[status] += 1
        if status == "FAIL" or (status == "NON-STRICT" and args.strict):
            failed.append(c.id)
        if status != "OK" or not args.quiet:
            dt = time.monotonic() - t0
            extra = " (%.1f s)" % dt if dt >= 2 else ""
            if status == "NON-STRICT":
                detail = "Autobahn passes this as NON-STRICT; " + detail
            print("%s %s%s%s" % (c.id, status, ": " + detail if detail else "", extra),
                  flush=True)

    if server is not None:
        rc = server.stop()
        log = "\n".join(server.log)
        if SANITIZER_RE.search(log):
            counts["FAIL"] += 1
            failed.append("server-process")
            print("server-process FAIL: sanitizer report:\n" + log[-3000:])
        elif rc != 0:
            counts["FAIL"] += 1
            failed.append("server-process")
            print("server-process FAIL: tincan exited with %s after SIGTERM" % rc)
        else:
            print("server-process OK")

    print("wsconf %s: %d cases in %.1f s: %d OK, %d NON-STRICT, %d INFO, %d FAIL" % (
        args.mode, len(cases), time.monotonic() - started, counts["OK"], counts["NON-STRICT"],
        counts["INFO"], counts["FAIL"]))
    if failed:
        more = " and %d more" % (len(failed) - 40) if len(failed) > 40 else ""
        print("failed (%d): %s%s" % (len(failed), " ".join(failed[:40]), more))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
