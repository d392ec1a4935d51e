"""STUN client checks against tincan's STUN server, with aioice (aiortc's ICE library) encoding
requests and decoding, and checking the FINGERPRINT of, every answer.

    stun_aioice_peer.py HOST PORT

UDP and TCP: Binding requests get XOR-MAPPED-ADDRESS equal to the client's own address, SOFTWARE
and a valid FINGERPRINT; a request with an unknown comprehension-required attribute gets 420
with UNKNOWN-ATTRIBUTES; another method gets 400; indications and non-STUN bytes get nothing;
responses are never much larger than requests; on TCP, pipelined and byte-split requests are all
answered and bytes that cannot be STUN close the connection. Prints one line per check."""

import os
import socket
import struct
import sys

from aioice import stun

HOST, PORT = sys.argv[1], int(sys.argv[2])
FAMILY = socket.AF_INET6 if ":" in HOST else socket.AF_INET
MAGIC = 0x2112A442
failed = 0


def check(desc, cond, detail=""):
    global failed
    if cond:
        print(f"ok   - {desc}")
    else:
        failed += 1
        print(f"FAIL - {desc}" + (f": {detail}" if detail else ""))


def binding_request():
    m = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    m.attributes["FINGERPRINT"] = stun.message_fingerprint(bytes(m))
    return m


def raw_request(method, attrs=b"", klass=0):
    """A request built by hand, for what aioice will not build."""
    tid = os.urandom(12)
    mtype = (method & 0xF) | ((method & 0x70) << 1) | ((method & 0xF80) << 2)
    mtype |= ((klass & 1) << 4) | ((klass & 2) << 7)
    return struct.pack("!HHI", mtype, len(attrs), MAGIC) + tid + attrs, tid


def udp_ask(data, timeout=2.0):
    s = socket.socket(FAMILY, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.connect((HOST, PORT))  # so that getsockname gives the address the server sees
    s.send(data)
    try:
        got = s.recv(65536)
    except (socket.timeout, ConnectionRefusedError):
        got = None
    local = s.getsockname()
    s.close()
    return got, local


def check_success(label, req, got, local, sent_len):
    if got is None:
        check(f"{label}: Binding request answered", False, "no answer")
        return
    try:
        resp = stun.parse_message(got)
    except ValueError as e:
        check(f"{label}: answer decodes with a valid FINGERPRINT", False, str(e))
        return
    check(f"{label}: answer decodes with a valid FINGERPRINT", "FINGERPRINT" in resp.attributes,
          str(resp.attributes))
    check(f"{label}: success response of the same transaction",
          resp.message_class == stun.Class.RESPONSE and resp.message_method == stun.Method.BINDING
          and resp.transaction_id == req.transaction_id, repr(resp))
    xma = resp.attributes.get("XOR-MAPPED-ADDRESS")
    check(f"{label}: XOR-MAPPED-ADDRESS is the client's own address",
          xma is not None and xma[0] == local[0] and xma[1] == local[1],
          f"{xma} vs {local[:2]}")
    check(f"{label}: SOFTWARE names tincan", str(resp.attributes.get("SOFTWARE", "")).startswith("tincan"),
          str(resp.attributes.get("SOFTWARE")))
    check(f"{label}: answer no more than 100 bytes larger than the request",
          len(got) <= sent_len + 100, f"{len(got)} for {sent_len}")


def error_code(got):
    """(code, unknown attribute types) of an error response, parsed by hand: aioice's table
    does not decode UNKNOWN-ATTRIBUTES."""
    mtype, length, _ = struct.unpack("!HHI", got[:8])
    pos, code, unknown = 20, None, []
    while pos + 4 <= 20 + length:
        atype, alen = struct.unpack("!HH", got[pos:pos + 4])
        val = got[pos + 4:pos + 4 + alen]
        if atype == 0x0009:
            code = (val[2] & 7) * 100 + val[3]
        elif atype == 0x000A:
            unknown = [struct.unpack("!H", val[i:i + 2])[0] for i in range(0, alen, 2)]
        pos += 4 + alen + (-alen % 4)
    return mtype, code, unknown


def udp_checks():
    req = binding_request()
    data = bytes(req)
    got, local = udp_ask(data)
    check_success("udp", req, got, local, len(data))

    # Without FINGERPRINT and SOFTWARE: a plain RFC 5389 request.
    m = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    got, local = udp_ask(bytes(m))
    check_success("udp plain request", m, got, local, len(bytes(m)))

    # With USERNAME and MESSAGE-INTEGRITY, which a server without credentials ignores.
    m = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    m.attributes["USERNAME"] = "alice:bob"
    m.add_message_integrity(b"secret")
    got, local = udp_ask(bytes(m))
    check_success("udp request with MESSAGE-INTEGRITY", m, got, local, len(bytes(m)))

    attrs = struct.pack("!HH", 0x7FF1, 4) + b"abcd"
    data, tid = raw_request(0x001, attrs)
    got, _ = udp_ask(data)
    if got is None:
        check("udp: unknown comprehension-required attribute gets 420", False, "no answer")
    else:
        mtype, code, unknown = error_code(got)
        check("udp: unknown comprehension-required attribute gets 420 with UNKNOWN-ATTRIBUTES",
              mtype == 0x0111 and code == 420 and unknown == [0x7FF1] and got[8:20] == tid,
              f"type {mtype:#x} code {code} unknown {unknown}")
        try:
            stun.parse_message(got)
            check("udp: the 420 answer has a valid FINGERPRINT", True)
        except ValueError as e:
            check("udp: the 420 answer has a valid FINGERPRINT", False, str(e))

    # An unknown comprehension-optional attribute is ignored.
    attrs = struct.pack("!HH", 0xC0FE, 4) + b"abcd"
    data, tid = raw_request(0x001, attrs)
    got, _ = udp_ask(data)
    check("udp: unknown comprehension-optional attribute is ignored",
          got is not None and got[:2] == b"\x01\x01" and got[8:20] == tid, repr(got))

    data, tid = raw_request(0x00A)  # a method this server does not serve: RFC 8489 section 6.3
    got, _ = udp_ask(data, timeout=0.5)
    check("udp: a request of another method is silently discarded", got is None, f"{got!r}")

    data, _ = raw_request(0x001, klass=1)  # a Binding indication
    got, _ = udp_ask(data, timeout=0.5)
    check("udp: an indication gets no answer", got is None, repr(got))
    got, _ = udp_ask(b"GET / HTTP/1.1\r\n\r\n", timeout=0.5)
    check("udp: non-STUN bytes get no answer", got is None, repr(got))
    data, _ = raw_request(0x001, b"\x00\x06\x00\x08abcd")  # an attribute longer than the message
    got, _ = udp_ask(data[:20] + data[20:], timeout=1.0)
    mtype, code, _ = error_code(got) if got else (None, None, None)
    check("udp: a malformed request gets 400 or nothing", got is None or code == 400, repr(got))
    req = binding_request()
    got, local = udp_ask(bytes(req))
    check_success("udp after bad input", req, got, local, len(bytes(req)))


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def tcp_recv_message(s):
    head = recv_exact(s, 20)
    if head is None:
        return None
    (length,) = struct.unpack("!H", head[2:4])
    body = recv_exact(s, length)
    return None if body is None else head + body


def tcp_checks():
    s = socket.create_connection((HOST, PORT), timeout=3)
    local = s.getsockname()
    reqs = [binding_request() for _ in range(3)]
    # The first whole, the second and third in one write, split byte by byte at the end.
    s.sendall(bytes(reqs[0]))
    got = tcp_recv_message(s)
    check_success("tcp", reqs[0], got, local, len(bytes(reqs[0])))
    both = bytes(reqs[1]) + bytes(reqs[2])
    s.sendall(both[:7])
    for i in range(7, len(both)):
        s.sendall(both[i:i + 1])
    for i in (1, 2):
        got = tcp_recv_message(s)
        check_success(f"tcp request {i + 1} (pipelined, byte by byte)", reqs[i], got, local,
                      len(bytes(reqs[i])))
    # An indication gets nothing, so the next answer is the following request's.
    ind, _ = raw_request(0x001, klass=1)
    req = binding_request()
    s.sendall(ind + bytes(req))
    got = tcp_recv_message(s)
    check_success("tcp after an indication", req, got, local, len(bytes(req)))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        rest = s.recv(100)
    except (socket.timeout, ConnectionResetError):
        rest = None
    check("tcp: non-STUN bytes close the connection", rest == b"", repr(rest))
    s.close()


udp_checks()
tcp_checks()
sys.exit(1 if failed else 0)
