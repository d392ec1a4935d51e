"""A WebSocket peer built on Debian's python3-websockets (10.x, its asyncio API), a strict
implementation: any framing, UTF-8 or deflate mistake on our side makes it fail the connection.

    ws_python_peer.py client URL   checks tincan's echo endpoint at URL; prints one line per check
                                   ("ok   - ..." / "FAIL - ...") and exits 1 if any failed
    ws_python_peer.py server       serves WebSocket on two free ports of 127.0.0.1, one with
                                   permessage-deflate and one without; prints
                                   "listening deflate=PORT plain=PORT", then one JSON line per
                                   finished connection; runs until SIGTERM (or 300 s)

Server paths: /echo echoes every message with its type; /close1001, /close4001 send "hello" then
close with that code; /badutf8 sends "hello" then a text frame that is not UTF-8; /drop sends
"hello" then drops TCP; /ping sends "hello", pings with a payload, reports the pong and closes
1000; anything else is answered 404. The subprotocol "json" is chosen when offered.
"""

import asyncio
import json
import os
import signal
import sys

import websockets
from websockets.extensions import permessage_deflate
from websockets.frames import OP_TEXT

MIB = 1024 * 1024
SERVER_LIFETIME_S = 300
PATHS = {"/echo", "/close1001", "/close4001", "/badutf8", "/drop", "/ping"}


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, desc, cond, detail=""):
        if cond:
            self.passed += 1
            print(f"ok   - {desc}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL - {desc}{': ' + detail if detail else ''}", flush=True)

    def eq(self, desc, expected, got):
        self.check(desc, expected == got, f"expected {expected!r:.200}, got {got!r:.200}")


def word_text(n, seed=1):
    """Compressible text with repeats near and far, n characters (ASCII and a few others)."""
    words = ["tincan", "socket", "héllo", "wörld", "✓", "frame", "deflate", "window", "zlib"]
    out, x, size = [], seed, 0
    while size < n:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        w = words[x % len(words)] + (str(x % 1000) if x % 7 == 0 else "") + " "
        out.append(w)
        size += len(w)
    return "".join(out)[:n]


async def echo(c, ws, desc, msg, timeout=60):
    await ws.send(msg)
    got = await asyncio.wait_for(ws.recv(), timeout)
    kind = "text" if isinstance(msg, str) else "binary"
    c.check(f"{desc}: echo is {kind}", type(got) is type(msg), f"got {type(got).__name__}")
    c.check(f"{desc}: echo is identical ({len(msg)})", got == msg, f"got {len(got)}")


async def client(url):
    c = Checks()
    offers = [
        ("plain", dict(compression=None)),
        ("deflate", dict(compression="deflate")),
        (
            "deflate, no context takeover, 9-bit windows",
            dict(
                compression=None,
                extensions=[
                    permessage_deflate.ClientPerMessageDeflateFactory(
                        server_no_context_takeover=True,
                        client_no_context_takeover=True,
                        server_max_window_bits=9,
                        client_max_window_bits=9,
                    )
                ],
            ),
        ),
    ]
    for name, kw in offers:
        try:
            async with websockets.connect(url, max_size=32 * MIB, open_timeout=10, **kw) as ws:
                ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
                if name == "plain":
                    c.eq(f"{name}: no extension negotiated", "", ext)
                else:
                    c.check(f"{name}: permessage-deflate negotiated", ext.startswith("permessage-deflate"), ext)
                await echo(c, ws, f"{name}: text", "hello, tincan")
                await echo(c, ws, f"{name}: unicode text", "héllo wörld ✓ 😀 κόσμε")
                await echo(c, ws, f"{name}: binary", bytes(range(256)))
                await echo(c, ws, f"{name}: empty text", "")
                await echo(c, ws, f"{name}: empty binary", b"")
                for i in range(3):
                    await echo(c, ws, f"{name}: compressible text #{i}", word_text(30000 + i, i + 1))
                await echo(c, ws, f"{name}: 1 MiB text", word_text(MIB, 5))
                await echo(c, ws, f"{name}: 1 MiB binary", os.urandom(MIB))
                # An iterable is sent as a fragmented message.
                await ws.send(["frag", "mented ", "😀"])
                got = await asyncio.wait_for(ws.recv(), 10)
                c.eq(f"{name}: fragmented text echoes whole", "fragmented 😀", got)
                await ws.send([b"\x00\x01", b"", b"\xff"])
                got = await asyncio.wait_for(ws.recv(), 10)
                c.eq(f"{name}: fragmented binary echoes whole", b"\x00\x01\xff", got)
                waiter = await ws.ping(b"python-ping")
                await asyncio.wait_for(waiter, 10)
                c.check(f"{name}: ping answered with a matching pong", True)
                await ws.close(1000, "bye")
                c.eq(f"{name}: close 1000 answered with 1000", 1000, ws.close_code)
        except Exception as e:  # noqa: BLE001 - any failure is a failed check
            c.check(f"{name}: session", False, f"{type(e).__name__}: {e}")

    for code in (4000, 1001, 3000):
        try:
            async with websockets.connect(url, open_timeout=10) as ws:
                await echo(c, ws, f"close {code}: before", "x")
                await ws.close(code, "reason")
                c.eq(f"close {code}: the server answers {code}", code, ws.close_code)
        except Exception as e:  # noqa: BLE001
            c.check(f"close {code}", False, f"{type(e).__name__}: {e}")

    # Over the server's 16 MiB limit: it must fail the connection with 1009.
    try:
        async with websockets.connect(url, compression=None, max_size=32 * MIB, open_timeout=10) as ws:
            code = None
            try:
                await ws.send(b"\x00" * (16 * MIB + 1))
                await asyncio.wait_for(ws.recv(), 30)
            except websockets.ConnectionClosed as e:
                code = e.rcvd.code if e.rcvd else None
            c.eq("16 MiB + 1 byte: the server closes 1009", 1009, code)
    except Exception as e:  # noqa: BLE001
        c.check("16 MiB + 1 byte", False, f"{type(e).__name__}: {e}")

    try:
        async with websockets.connect(url, open_timeout=10) as ws:
            await echo(c, ws, "a client after all that", "still serving")
    except Exception as e:  # noqa: BLE001
        c.check("a client after all that", False, f"{type(e).__name__}: {e}")

    print(f"# {c.passed} passed, {c.failed} failed", flush=True)
    return 1 if c.failed else 0


def report(**kw):
    print(json.dumps(kw), flush=True)


async def handler(ws, path=None):
    path = ws.path.split("?")[0]
    info = {
        "path": path,
        "extensions": ws.response_headers.get("Sec-WebSocket-Extensions", ""),
        "protocol": ws.subprotocol,
        "headers": {k.lower(): v for k, v in ws.request_headers.raw_items()},
    }
    try:
        if path == "/echo":
            async for msg in ws:
                await ws.send(msg)
        else:
            await ws.send("hello")
            await asyncio.sleep(0.05)
            if path == "/close1001":
                await ws.close(1001, "going away")
            elif path == "/close4001":
                await ws.close(4001, "app code")
            elif path == "/badutf8":
                await ws.write_frame(True, OP_TEXT, b"\xce\xba\xed\xa0\x80")
                await asyncio.wait_for(ws.wait_closed(), 10)
            elif path == "/drop":
                ws.transport.abort()
            elif path == "/ping":
                waiter = await ws.ping(b"server-ping")
                await asyncio.wait_for(waiter, 10)
                info["pong"] = True
                await ws.close(1000)
        await asyncio.wait_for(ws.wait_closed(), 10)
    except websockets.ConnectionClosed:
        pass
    except Exception as e:  # noqa: BLE001
        info["error"] = f"{type(e).__name__}: {e}"
    info["code"] = ws.close_code
    info["reason"] = ws.close_reason
    report(event="closed", **info)


async def process_request(path, headers):
    if path.split("?")[0] not in PATHS:
        return (404, [("Content-Length", "9")], b"not found")
    return None


async def server():
    common = dict(subprotocols=["json"], process_request=process_request, max_size=16 * MIB,
                  ping_interval=None)
    s1 = await websockets.serve(handler, "127.0.0.1", 0, compression="deflate", **common)
    s2 = await websockets.serve(handler, "127.0.0.1", 0, compression=None, **common)
    p1 = s1.sockets[0].getsockname()[1]
    p2 = s2.sockets[0].getsockname()[1]
    print(f"listening deflate={p1} plain={p2}", flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    # An orphaned server must not linger.
    try:
        await asyncio.wait_for(stop, SERVER_LIFETIME_S)
    except asyncio.TimeoutError:
        pass
    s1.close()
    s2.close()
    await s1.wait_closed()
    await s2.wait_closed()
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "client":
        return asyncio.run(client(sys.argv[2]))
    if len(sys.argv) == 2 and sys.argv[1] == "server":
        return asyncio.run(server())
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
