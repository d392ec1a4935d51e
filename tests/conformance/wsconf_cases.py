"""The cases of wsconf.py, grouped and numbered as in the Autobahn|Testsuite.

Each case is a function of a Session (see wsconf.py) that sends frames and states what it
expects with s.expect(): the events (echoed messages, pongs, and Autobahn's "timeout" marks for
waits the connection survived) for the strict outcome and, where Autobahn has one, the non-strict
outcome; who closes; the acceptable close codes; whether the close must be clean. The same case
runs against a server (our frames masked) and against a client (unmasked).

Waits are shorter than Autobahn's one second: both peers run on this machine.
Cases marked "extra" go beyond Autobahn; they are numbered after its groups.
"""

import functools
import json
import random
import struct
import zlib

TEXT, BINARY, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10
PROTO, INVALID, TOO_BIG = 1002, 1007, 1009
MAX_MESSAGE = 16 << 20  # the library's default limit, on both sides


class Case:
    def __init__(self, id, desc, run, deflate=None, info=False):
        self.id, self.desc, self.run, self.deflate, self.info = id, desc, run, deflate, info


class Deflate:
    """permessage-deflate for a case. offer: what we offer a server (None: not run in server
    mode). client_args: ws_echo_client options (None: not run in client mode); respond: our
    answer to the client's offer (a string, or a function of its parsed parameters)."""

    def __init__(self, offer=None, client_args=None, respond="permessage-deflate",
                 expect_in_offer=None, expect_decline=False, expect_offer=None,
                 expect_client_refuses=False):
        self.offer = offer
        self.client_args = client_args
        self.respond = respond
        self.expect_in_offer = expect_in_offer or {}
        self.expect_decline = expect_decline
        self.expect_offer = expect_offer
        self.expect_client_refuses = expect_client_refuses


CASES = []


def add(id, desc, run, deflate=None, info=False):
    CASES.append(Case(id, desc, run, deflate, info))


def all_cases():
    return sorted(CASES, key=lambda c: [int(x) for x in c.id.split(".")])


def M(op, payload):
    return ("message", op, payload)


def P(payload):
    return ("pong", payload)


def T(label):
    return ("timeout", label)


def rep(pattern, n):
    return (pattern * (n // len(pattern) + 1))[:n]


def fail_with(s, code, ok=(), non_strict=None):
    """The endpoint must fail the connection with code, after sending the events in ok."""
    s.expect(ok, non_strict=non_strict, by_me=False, codes=(code,), clean=False)


def one_byte_frames(s, op, payload):
    """A message in frames of one payload byte each, written in one go."""
    n = len(payload)
    s.frames([(op if i == 0 else CONT, payload[i:i + 1], i == n - 1, 0) for i in range(n)])


# ---- 1 Framing -------------------------------------------------------------------------------

def echo(s, op, payload, chop=None):
    s.expect([M(op, payload)])
    s.frame(op, payload, chop=chop)


SIZES_1 = [0, 125, 126, 127, 128, 65535, 65536]
for _g, _op, _pat in ((1, TEXT, b"*"), (2, BINARY, b"\xfe")):
    for _i, _n in enumerate(SIZES_1, 1):
        add("1.%d.%d" % (_g, _i), "%s message of %d bytes" % (
            "text" if _op == TEXT else "binary", _n),
            functools.partial(echo, op=_op, payload=rep(_pat, _n)))
    add("1.%d.8" % _g, "%s message of 65536 bytes written in chops of 997" % (
        "text" if _op == TEXT else "binary"),
        functools.partial(echo, op=_op, payload=rep(_pat, 65536), chop=997))


# ---- 2 Pings and pongs -----------------------------------------------------------------------

def ping(s, payload, chop=None):
    s.expect([P(payload)])
    s.frame(PING, payload, chop=chop)


add("2.1", "ping without payload", functools.partial(ping, payload=b""))
add("2.2", "ping with a small text payload", functools.partial(ping, payload=b"Hello, world!"))
add("2.3", "ping with a small binary payload",
    functools.partial(ping, payload=b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"))
add("2.4", "ping with 125 bytes", functools.partial(ping, payload=b"\xfe" * 125))


def case_2_5(s):
    fail_with(s, PROTO)
    s.frame(PING, b"\xfe" * 126)


add("2.5", "ping with 126 bytes: too long for a control frame", case_2_5)
add("2.6", "ping with 125 bytes written in 1-byte chops",
    functools.partial(ping, payload=b"\xfe" * 125, chop=1))


def case_2_7(s):
    s.expect([])
    s.frame(PONG)


def case_2_8(s):
    s.expect([])
    s.frame(PONG, b"unsolicited pong payload")


def case_2_9(s):
    s.expect([P(b"ping payload")])
    s.frame(PONG, b"unsolicited pong payload")
    s.frame(PING, b"ping payload")


def ten_pings(s, chop=None):
    payloads = [b"payload-%d" % i for i in range(10)]
    s.expect([P(p) for p in payloads])
    for p in payloads:
        s.frame(PING, p, chop=chop)


add("2.7", "unsolicited pong without payload: ignored", case_2_7)
add("2.8", "unsolicited pong with payload: ignored", case_2_8)
add("2.9", "unsolicited pong, then a ping: only the ping is answered", case_2_9)
add("2.10", "10 pings: 10 pongs in order", ten_pings)
add("2.11", "10 pings written in 1-byte chops", functools.partial(ten_pings, chop=1))


# ---- 3 Reserved bits -------------------------------------------------------------------------

HELLO = b"Hello, world!"


def rsv_alone(s, op, payload, rsv):
    fail_with(s, PROTO)
    s.frame(op, payload, rsv=rsv)


def rsv_after_text(s, rsv, sync=False, chop=None):
    # Autobahn: the first echo is strict; failing before it is acceptable (NON-STRICT).
    fail_with(s, PROTO, [M(TEXT, HELLO)], non_strict=[])
    s.frame(TEXT, HELLO, sync=sync, chop=chop)
    s.frame(TEXT, HELLO, rsv=rsv, sync=sync, chop=chop)
    s.frame(PING, sync=sync, chop=chop)


add("3.1", "text with RSV1 set (no extension)",
    functools.partial(rsv_alone, op=TEXT, payload=HELLO, rsv=1))
add("3.2", "text, text with RSV2, ping", functools.partial(rsv_after_text, rsv=2))
add("3.3", "text, text with RSV3, ping, frame by frame",
    functools.partial(rsv_after_text, rsv=3, sync=True))
add("3.4", "text, text with RSV=4, ping, in 1-byte chops",
    functools.partial(rsv_after_text, rsv=4, chop=1))
add("3.5", "binary with RSV=5", functools.partial(rsv_alone, op=BINARY,
                                                   payload=bytes(range(256)), rsv=5))
add("3.6", "ping with RSV=6", functools.partial(rsv_alone, op=PING, payload=HELLO, rsv=6))
add("3.7", "close with RSV=7",
    functools.partial(rsv_alone, op=CLOSE, payload=struct.pack("!H", 1000), rsv=7))


# ---- 4 Opcodes -------------------------------------------------------------------------------

def opcode_alone(s, op, payload):
    fail_with(s, PROTO)
    s.frame(op, payload)


def opcode_after_text(s, op, payload, chop=None):
    fail_with(s, PROTO, [M(TEXT, HELLO)], non_strict=[])
    s.frame(TEXT, HELLO, chop=chop)
    s.frame(op, payload, chop=chop)
    s.frame(PING, chop=chop)


for _g, _ops in ((1, (3, 4, 5, 6, 7)), (2, (11, 12, 13, 14, 15))):
    _kind = "non-control" if _g == 1 else "control"
    add("4.%d.1" % _g, "reserved %s opcode %d" % (_kind, _ops[0]),
        functools.partial(opcode_alone, op=_ops[0], payload=b""))
    add("4.%d.2" % _g, "reserved %s opcode %d with payload" % (_kind, _ops[1]),
        functools.partial(opcode_alone, op=_ops[1], payload=b"reserved opcode payload"))
    add("4.%d.3" % _g, "text, reserved opcode %d, ping" % _ops[2],
        functools.partial(opcode_after_text, op=_ops[2], payload=b""))
    add("4.%d.4" % _g, "text, reserved opcode %d with payload, ping" % _ops[3],
        functools.partial(opcode_after_text, op=_ops[3], payload=HELLO))
    add("4.%d.5" % _g, "text, reserved opcode %d with payload, ping, 1-byte chops" % _ops[4],
        functools.partial(opcode_after_text, op=_ops[4], payload=HELLO, chop=1))


# ---- 5 Fragmentation -------------------------------------------------------------------------

def fragmented_control(s, op):
    fail_with(s, PROTO)
    s.frame(op, b"fragment1", fin=False)
    s.frame(CONT, b"fragment2")


add("5.1", "ping in 2 fragments", functools.partial(fragmented_control, op=PING))
add("5.2", "pong in 2 fragments", functools.partial(fragmented_control, op=PONG))


def two_fragments(s, sync=False, chop=None):
    s.expect([M(TEXT, b"fragment1fragment2")])
    s.frame(TEXT, b"fragment1", fin=False, sync=sync, chop=chop)
    s.frame(CONT, b"fragment2", sync=sync, chop=chop)


add("5.3", "text in 2 fragments", two_fragments)
add("5.4", "text in 2 fragments, frame by frame", functools.partial(two_fragments, sync=True))
add("5.5", "text in 2 fragments, 1-byte chops", functools.partial(two_fragments, chop=1))


def ping_between(s, sync=False, chop=None):
    s.expect([P(b"ping payload"), M(TEXT, b"fragment1fragment2")])
    s.frame(TEXT, b"fragment1", fin=False, sync=sync, chop=chop)
    s.frame(PING, b"ping payload", sync=sync, chop=chop)
    s.frame(CONT, b"fragment2", sync=sync, chop=chop)


add("5.6", "text in 2 fragments with a ping between", ping_between)
add("5.7", "the same, frame by frame", functools.partial(ping_between, sync=True))
add("5.8", "the same, 1-byte chops", functools.partial(ping_between, chop=1))


def stray_continuation(s, fin, sync=False, chop=None):
    fail_with(s, PROTO)
    s.frame(CONT, b"non-continuation payload", fin=fin, sync=sync, chop=chop)
    s.frame(TEXT, HELLO, sync=sync, chop=chop)


for _i, (_fin, _what) in enumerate(((True, "FIN"), (False, "no FIN")), 0):
    _b = 9 + 3 * _i
    add("5.%d" % _b, "continuation (%s) without a message, then text" % _what,
        functools.partial(stray_continuation, fin=_fin))
    add("5.%d" % (_b + 1), "the same, frame by frame",
        functools.partial(stray_continuation, fin=_fin, sync=True))
    add("5.%d" % (_b + 2), "the same, 1-byte chops",
        functools.partial(stray_continuation, fin=_fin, chop=1))


def case_5_15(s):
    fail_with(s, PROTO, [M(TEXT, b"fragment1fragment2")], non_strict=[])
    s.frame(TEXT, b"fragment1", fin=False)
    s.frame(CONT, b"fragment2", fin=True)
    s.frame(CONT, b"fragment3", fin=False)
    s.frame(TEXT, b"fragment4", fin=True)


def repeated_stray(s, first_fin):
    fail_with(s, PROTO)
    for _ in range(2):
        s.frame(CONT, b"fragment1", fin=first_fin)
        s.frame(TEXT, b"fragment2", fin=False)
        s.frame(CONT, b"fragment3", fin=True)


def case_5_18(s):
    fail_with(s, PROTO)
    s.frame(TEXT, b"fragment1", fin=False)
    s.frame(TEXT, b"fragment2", fin=True)


def pings_in_fragments(s, sync=False):
    frags = [b"fragment%d" % i for i in range(1, 6)]
    pings = [b"pongme 1!", b"pongme 2!"]
    s.expect([P(pings[0]), P(pings[1]), M(TEXT, b"".join(frags))])
    s.frame(TEXT, frags[0], fin=False, sync=sync)
    s.frame(CONT, frags[1], fin=False, sync=sync)
    s.frame(PING, pings[0], sync=sync)
    s.wait(0.3)
    s.frame(CONT, frags[2], fin=False, sync=sync)
    s.frame(CONT, frags[3], fin=False, sync=sync)
    s.frame(PING, pings[1], sync=sync)
    s.frame(CONT, frags[4], fin=True, sync=sync)


add("5.15", "2 fragments, then a stray continuation, then text", case_5_15)
add("5.16", "twice: stray continuation (no FIN), text in 2 fragments",
    functools.partial(repeated_stray, first_fin=False))
add("5.17", "twice: stray continuation (FIN), text in 2 fragments",
    functools.partial(repeated_stray, first_fin=True))
add("5.18", "2 fragments both with the text opcode", case_5_18)
add("5.19", "5 fragments with 2 pings between, and a pause", pings_in_fragments)
add("5.20", "the same, frame by frame", functools.partial(pings_in_fragments, sync=True))


# ---- 6 UTF-8 ---------------------------------------------------------------------------------

def text_echo(s, payload):
    s.expect([M(TEXT, payload)])
    s.frame(TEXT, payload)


def text_fragments(s, parts):
    s.expect([M(TEXT, b"".join(parts))])
    s.frames([(TEXT if i == 0 else CONT, p, i == len(parts) - 1, 0) for i, p in enumerate(parts)])


def text_one_byte_frames(s, payload, valid):
    if valid:
        s.expect([M(TEXT, payload)])
    else:
        fail_with(s, INVALID)
    one_byte_frames(s, TEXT, payload)


def text_invalid(s, payload):
    fail_with(s, INVALID)
    s.frame(TEXT, payload)


UTF8_HELLO = "Hello-µ@ßöäüàá-UTF-8!!".encode()
KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
KOSME_BAD = KOSME + b"\xed\xa0\x80" + b"edited"

add("6.1.1", "empty text message", functools.partial(text_echo, payload=b""))
add("6.1.2", "text in 3 empty fragments", functools.partial(text_fragments, parts=[b""] * 3))
add("6.1.3", "text in 3 fragments, only the middle one non-empty",
    functools.partial(text_fragments, parts=[b"", b"middle frame payload", b""]))
add("6.2.1", "valid UTF-8 in one frame", functools.partial(text_echo, payload=UTF8_HELLO))
add("6.2.2", "valid UTF-8 in 2 fragments split on a code point boundary",
    functools.partial(text_fragments,
                      parts=["Hello-µ@ßöä".encode(), "üàá-UTF-8!!".encode()]))
add("6.2.3", "valid UTF-8 in 1-byte fragments (splitting code points)",
    functools.partial(text_one_byte_frames, payload=UTF8_HELLO, valid=True))
add("6.2.4", "valid UTF-8 (kosme) in 1-byte fragments",
    functools.partial(text_one_byte_frames, payload=KOSME, valid=True))
add("6.3.1", "invalid UTF-8 in one frame", functools.partial(text_invalid, payload=KOSME_BAD))
add("6.3.2", "invalid UTF-8 in 1-byte fragments",
    functools.partial(text_one_byte_frames, payload=KOSME_BAD, valid=False))

FF_PART1 = KOSME
FF_PART2 = b"\xf4\x90\x80\x80"  # U+110000: invalid from its second byte on
FF_PART3 = b"\x65\x64\x69\x74\x65\x64"
FF_PAYLOAD = FF_PART1 + FF_PART2 + FF_PART3


def fail_fast(s, parts, one_frame):
    """Autobahn 6.4.x: the piece that makes the text invalid must fail the connection before the
    rest arrives; failing only at the end is NON-STRICT."""
    s.expect([T("A")], non_strict=[T("A"), T("B")], by_me=False, codes=(INVALID,), clean=False)
    if one_frame:
        whole = s.build(TEXT, FF_PAYLOAD)
        hlen = len(whole) - len(FF_PAYLOAD)
        cuts = [0, hlen + len(parts[0]), hlen + len(parts[0]) + len(parts[1]), len(whole)]
        pieces = [whole[cuts[i]:cuts[i + 1]] for i in range(3)]
        send = s.raw
    else:
        pieces = parts
        send = None
    for i in range(3):
        if send:
            send(pieces[i])
        else:
            s.frame(TEXT if i == 0 else CONT, pieces[i], fin=i == 2)
        if i < 2 and not s.wait(0.3 if i == 0 else 0.6, "AB"[i]):
            return


_ff3 = [FF_PART1, FF_PART2, FF_PART3]
_ff_byte = [FF_PAYLOAD[:12], FF_PAYLOAD[12:13], FF_PAYLOAD[13:]]
add("6.4.1", "fail fast: 3 fragments, the 2nd holds the invalid code point",
    functools.partial(fail_fast, parts=_ff3, one_frame=False))
add("6.4.2", "fail fast: 3 fragments, the 2nd is the one invalid byte",
    functools.partial(fail_fast, parts=_ff_byte, one_frame=False))
add("6.4.3", "fail fast: one frame in 3 chops, the 2nd holds the invalid code point",
    functools.partial(fail_fast, parts=_ff3, one_frame=True))
add("6.4.4", "fail fast: one frame in 3 chops, the 2nd is the one invalid byte",
    functools.partial(fail_fast, parts=_ff_byte, one_frame=True))


def utf8_sequences():
    """The sequences of Autobahn 6.5-6.23 (from Markus Kuhn's UTF-8 decoder stress test), as
    (description, [(valid, bytes)])."""
    groups = []
    kosme = KOSME
    groups.append(("Some valid UTF-8 sequences", [
        (True, b"hello\x24world"), (True, b"hello\xc2\xa2world"),
        (True, b"hello\xe2\x82\xacworld"), (True, b"hello\xf0\xa4\xad\xa2world"), (True, kosme)]))
    prefixes = []
    for i in range(1, len(kosme) + 1):
        try:
            kosme[:i].decode("utf-8")
            prefixes.append((True, kosme[:i]))
        except UnicodeDecodeError:
            prefixes.append((False, kosme[:i]))
    groups.append(("All prefixes of a valid UTF-8 string with multi-byte code points", prefixes))
    groups.append(("First possible sequence of a certain length", [
        (True, b"\x00"), (True, b"\xc2\x80"), (True, b"\xe0\xa0\x80"),
        (True, b"\xf0\x90\x80\x80")]))
    groups.append(("First possible sequence length 5/6 (invalid code points)", [
        (False, b"\xf8\x88\x80\x80\x80"), (False, b"\xfc\x84\x80\x80\x80\x80")]))
    groups.append(("Last possible sequence of a certain length", [
        (True, b"\x7f"), (True, b"\xdf\xbf"), (True, b"\xef\xbf\xbf"),
        (True, b"\xf4\x8f\xbf\xbf")]))
    groups.append(("Last possible sequence length 4/5/6 (invalid code points)", [
        (False, b"\xf7\xbf\xbf\xbf"), (False, b"\xfb\xbf\xbf\xbf\xbf"),
        (False, b"\xfd\xbf\xbf\xbf\xbf\xbf")]))
    groups.append(("Other boundary conditions", [
        (True, b"\xed\x9f\xbf"), (True, b"\xee\x80\x80"), (True, b"\xef\xbf\xbd"),
        (True, b"\xf4\x8f\xbf\xbf"), (False, b"\xf4\x90\x80\x80")]))
    cont = [b"\x80", b"\xbf", b"\x80\xbf", b"\x80\xbf\x80", b"\x80\xbf\x80\xbf",
            b"\x80\xbf\x80\xbf\x80", b"\x80\xbf\x80\xbf\x80\xbf", bytes(range(0x80, 0xbf))]
    groups.append(("Unexpected continuation bytes", [(False, c) for c in cont]))
    lonely = []
    for lo, hi in ((0xc0, 0xdf), (0xe0, 0xef), (0xf0, 0xf7), (0xf8, 0xfb), (0xfc, 0xfd)):
        lonely.append((False, b"".join(bytes([c, 0x20]) for c in range(lo, hi))))
    groups.append(("Lonely start characters", lonely))
    missing = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80", b"\xfc\x80\x80\x80\x80",
               b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    groups.append(("Sequences with last continuation byte missing", [(False, m) for m in missing]))
    groups.append(("Concatenation of incomplete sequences", [(False, b"".join(missing))]))
    groups.append(("Impossible bytes", [(False, b"\xfe"), (False, b"\xff"),
                                        (False, b"\xfe\xfe\xff\xff")]))
    groups.append(("Examples of an overlong ASCII character", [
        (False, b"\xc0\xaf"), (False, b"\xe0\x80\xaf"), (False, b"\xf0\x80\x80\xaf"),
        (False, b"\xf8\x80\x80\x80\xaf"), (False, b"\xfc\x80\x80\x80\x80\xaf")]))
    groups.append(("Maximum overlong sequences", [
        (False, b"\xc1\xbf"), (False, b"\xe0\x9f\xbf"), (False, b"\xf0\x8f\xbf\xbf"),
        (False, b"\xf8\x87\xbf\xbf\xbf"), (False, b"\xfc\x83\xbf\xbf\xbf\xbf")]))
    groups.append(("Overlong representation of the NUL character", [
        (False, b"\xc0\x80"), (False, b"\xe0\x80\x80"), (False, b"\xf0\x80\x80\x80"),
        (False, b"\xf8\x80\x80\x80\x80"), (False, b"\xfc\x80\x80\x80\x80\x80")]))
    singles = [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf", b"\xed\xb0\x80",
               b"\xed\xbe\x80", b"\xed\xbf\xbf"]
    groups.append(("Single UTF-16 surrogates", [(False, x) for x in singles]))
    pairs = []
    for hi in (b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf"):
        for lo in (b"\xed\xb0\x80", b"\xed\xbf\xbf"):
            pairs.append((False, hi + lo))
    groups.append(("Paired UTF-16 surrogates", pairs))
    nonchars = [(True, b"\xef\xbf\xbe"), (True, b"\xef\xbf\xbf")]
    for z1 in (0xf0, 0xf1, 0xf2, 0xf3, 0xf4):
        for z2 in (0x8f, 0x9f, 0xaf, 0xbf):
            if z1 == 0xf4 and z2 != 0x8f:
                continue  # beyond U+10FFFF
            for z3 in (0xbe, 0xbf):
                zz = bytes([z1, z2, 0xbf, z3])
                if zz not in (b"\xf0\x8f\xbf\xbe", b"\xf0\x8f\xbf\xbf"):  # overlong
                    nonchars.append((True, zz))
    groups.append(("Non-character code points (valid UTF-8)", nonchars))
    groups.append(("Unicode specials (i.e. replacement char)", [
        (True, b"\xef\xbf" + bytes([c])) for c in range(0xb9, 0xc0)]))
    return groups


for _gi, (_gdesc, _seqs) in enumerate(utf8_sequences(), 5):
    for _j, (_valid, _p) in enumerate(_seqs, 1):
        add("6.%d.%d" % (_gi, _j), "%s: %s" % (_gdesc, _p.hex()),
            functools.partial(text_echo if _valid else text_invalid, payload=_p))


# ---- 7 Closing -------------------------------------------------------------------------------

HELLO_W = b"Hello World!"


def case_7_1_1(s):
    s.expect([M(TEXT, HELLO_W)])
    s.frame(TEXT, HELLO_W)
    s.close(1000)


def case_7_1_2(s):
    s.expect([])
    s.close(1000)
    s.frame(CLOSE, struct.pack("!H", 1000))


def case_7_1_3(s):
    s.expect([])
    s.close(1000)
    s.frame(PING, HELLO_W)


def case_7_1_4(s):
    s.expect([])
    s.close(1000)
    s.frame(TEXT, HELLO_W)


def case_7_1_5(s):
    s.expect([])
    s.frame(TEXT, b"fragment1", fin=False)
    s.close(1000)
    s.frame(CONT, b"fragment2")


def case_7_1_6(s):
    s.expect([M(TEXT, HELLO_W)], non_strict=[], info=True)
    s.frame(TEXT, rep(b"BAsd7&jh23", 256 << 10))
    s.frame(TEXT, HELLO_W)
    s.close(1000)
    s.frame(PING)


add("7.1.1", "text, then close 1000", case_7_1_1)
add("7.1.2", "two close frames", case_7_1_2)
add("7.1.3", "close, then ping: no pong", case_7_1_3)
add("7.1.4", "close, then text: not echoed", case_7_1_4)
add("7.1.5", "first fragment, close, last fragment: nothing echoed", case_7_1_5)
add("7.1.6", "256 KiB text, text, close, ping (informational)", case_7_1_6, info=True)


def close_with(s, code=None, reason=b"", payload=None, expect=(1000,), clean=True):
    s.expect([], by_me=True, codes=expect, clean=clean)
    s.close(code, reason, payload)


add("7.3.1", "close without payload", close_with)
add("7.3.2", "close with a 1-byte payload",
    functools.partial(close_with, payload=b"\x03", expect=(PROTO,), clean=False))
add("7.3.3", "close 1000", functools.partial(close_with, code=1000))
add("7.3.4", "close 1000 with a reason", functools.partial(close_with, code=1000,
                                                           reason=HELLO_W))
add("7.3.5", "close 1000 with a 123-byte reason",
    functools.partial(close_with, code=1000, reason=b"*" * 123))
add("7.3.6", "close 1000 with a 124-byte reason (frame too long)",
    functools.partial(close_with, code=1000, reason=b"*" * 124, expect=(PROTO,), clean=False))
add("7.5.1", "close with an invalid UTF-8 reason: 1007",
    functools.partial(close_with, code=1000, reason=KOSME_BAD, expect=(INVALID,), clean=False))
for _i, _c in enumerate((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000,
                         4999), 1):
    add("7.7.%d" % _i, "close with valid code %d: answered" % _c,
        functools.partial(close_with, code=_c, expect=(1000, _c)))
for _i, _c in enumerate((0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999), 1):
    add("7.9.%d" % _i, "close with invalid code %d: 1002" % _c,
        functools.partial(close_with, code=_c, expect=(PROTO,), clean=False))


def close_informational(s, code):
    s.expect([], codes=(1000, code, PROTO), clean=False, info=True)
    s.close(code)


add("7.13.1", "close with code 5000 (informational)",
    functools.partial(close_informational, code=5000), info=True)
add("7.13.2", "close with code 65535 (informational)",
    functools.partial(close_informational, code=65535), info=True)


# ---- 9 Large messages and limits -------------------------------------------------------------

KIB, MIB = 1 << 10, 1 << 20
T_BIG = 60.0


def big_echo(s, op, n, frag=0, chop=None):
    payload = rep(b"BAsd7&jh23" if op == TEXT else b"\xfe", n)
    s.expect(no_compare=True, timeout=T_BIG)
    if frag:
        s.message(op, payload, compress=False, frag=frag)
    else:
        s.frame(op, payload, chop=chop)
    ev = s.next_message(T_BIG)
    if ev is None:
        s.errors.append("no echo of the %d-byte message within %.0f s" % (n, T_BIG))
    elif ev[1] != op or ev[2] != payload:
        s.errors.append("expected the %d-byte %s message back, got %s" % (
            n, "text" if op == TEXT else "binary", s.describe(ev)))


def many_roundtrips(s, op, n, count):
    s.expect(no_compare=True)
    payload = rep(b"*" if op == TEXT else b"\xfe", n)
    for i in range(count):
        if not s.roundtrip(op, payload, what="message %d: " % (i + 1)):
            return


for _g, _op in ((0, TEXT), (1, BINARY)):
    _kind = "text" if _op == TEXT else "binary"
    for _i, _n in enumerate((64 * KIB, 256 * KIB, MIB, 4 * MIB, 8 * MIB, 16 * MIB), 1):
        add("9.%d.%d" % (1 + _g, _i), "%s message of %d KiB in one frame" % (_kind, _n // KIB),
            functools.partial(big_echo, op=_op, n=_n))
    for _i, _f in enumerate((64, 256, KIB, 4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB, 4 * MIB),
                            1):
        add("9.%d.%d" % (3 + _g, _i), "%s message of 4 MiB in fragments of %d bytes" % (_kind, _f),
            functools.partial(big_echo, op=_op, n=4 * MIB, frag=_f))
    for _i, _c in enumerate((64, 128, 256, 512, 1024, 2048), 1):
        add("9.%d.%d" % (5 + _g, _i), "%s message of 1 MiB written in chops of %d" % (_kind, _c),
            functools.partial(big_echo, op=_op, n=MIB, chop=_c))
    for _i, _n in enumerate((0, 16, 64, 256, 1024, 4096), 1):
        add("9.%d.%d" % (7 + _g, _i), "200 %s messages of %d bytes, one at a time" % (_kind, _n),
            functools.partial(many_roundtrips, op=_op, n=_n, count=200))


def too_big(s, op, n, frag=0):
    payload = rep(b"BAsd7&jh23" if op == TEXT else b"\xfe", n)
    s.expect([], by_me=False, codes=(TOO_BIG,), clean=False, timeout=T_BIG)
    if frag:
        s.message(op, payload, compress=False, frag=frag)
    else:
        s.frame(op, payload)


add("9.9.1", "extra: text message of 16 MiB + 1 in one frame: 1009",
    functools.partial(too_big, op=TEXT, n=MAX_MESSAGE + 1))
add("9.9.2", "extra: binary message of 16 MiB + 1 in one frame: 1009",
    functools.partial(too_big, op=BINARY, n=MAX_MESSAGE + 1))
add("9.9.3", "extra: binary message of 17 MiB in 1 MiB fragments: 1009",
    functools.partial(too_big, op=BINARY, n=17 * MIB, frag=MIB))
add("9.9.4", "extra: text message of exactly 16 MiB in 4 MiB fragments: echoed",
    functools.partial(big_echo, op=TEXT, n=MAX_MESSAGE, frag=4 * MIB))


# ---- 10 Auto-fragmentation -------------------------------------------------------------------

def case_10_1_1(s):
    s.expect([M(TEXT, b"*" * 65536)])
    s.message(TEXT, b"*" * 65536, compress=False, frag=1300)


add("10.1.1", "text of 65536 bytes in fragments of 1300", case_10_1_1)


# ---- 12/13 permessage-deflate ----------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def dataset(name):
    """Deterministic stand-ins for Autobahn's test files: (bytes, is_binary). The text ones
    are ASCII so that any slice is valid UTF-8."""
    rnd = random.Random(name)
    size = 300 * KIB
    out, n = [], 0

    def put(b):
        nonlocal n
        out.append(b)
        n += len(b)

    if name == "faust":
        words = ("Habe nun ach Philosophie Juristerei und Medizin auch leider Theologie "
                 "durchaus studiert mit heißem Bemühn da steh ich nun ich armer Tor "
                 "bin so klug als wie zuvor heiße Magister Doktor gar und ziehe schon an die "
                 "zehen Jahr herauf herab und quer und krumm meine Schüler an der Nase herum "
                 "Geist Mephistopheles Gretchen Wagner Straße Nacht Studierzimmer").split()
        words = [w.encode() for w in words]
        while n < size:
            put(rnd.choice(words) + (b"\n" if rnd.random() < 0.1 else b" "))
        return b"".join(out)[:size], True
    if name == "image":
        noise = rnd.randbytes(size)
        return bytes((((i % 512) * 7 // 5) ^ ((i // 512) * 3)) + (noise[i] & 3) & 0xFF
                     for i in range(size)), True
    if name == "pdf":
        while n < size:
            if rnd.random() < 0.7:
                put(rnd.randbytes(rnd.randrange(200, 2000)))
            else:
                put(b"\nendstream endobj %d 0 obj << /Length %d /Filter /FlateDecode >>"
                    b" stream\n" % (rnd.randrange(999), rnd.randrange(99999)))
        return b"".join(out)[:size], True
    if name == "json":
        while n < size:
            put(json.dumps({
                "id": rnd.randrange(10 ** 6), "name": rnd.choice(["alpha", "beta", "gamma"]),
                "tags": [rnd.choice(["red", "green", "blue", "x", "y"]) for _ in range(3)],
                "value": rnd.random(), "active": rnd.random() < 0.5,
                "note": "".join(rnd.choice("abcdefghij ") for _ in range(rnd.randrange(40)))
            }).encode() + b",\n")
        return (b"[" + b"".join(out))[:size], False
    if name == "html":
        tags = ["p", "div", "span", "li", "td", "a"]
        while n < size:
            t = rnd.choice(tags)
            text = " ".join(rnd.choice(["lorem", "ipsum", "dolor", "sit", "amet", "tincan",
                                        "socket", "frame", "message"]) for _ in range(12))
            put(('<%s class="c%d">%s</%s>\n' % (t, rnd.randrange(20), text, t)).encode())
        return b"".join(out)[:size], False
    raise KeyError(name)


DATASETS = ["faust", "image", "pdf", "json", "html"]
ROWS = [(16, 0), (64, 0), (256, 0), (1024, 0), (4096, 0), (8192, 0), (16384, 0), (32768, 0),
        (65536, 0), (131072, 0), (8192, 256), (16384, 256), (32768, 256), (65536, 256),
        (131072, 256), (131072, 1024), (131072, 4096), (131072, 32768)]
COMPACT_ROWS = [(16, 0), (64, 0), (300, 0), (1024, 0), (4096, 0), (16384, 0), (65536, 0),
                (131072, 0), (8192, 256), (131072, 4096)]


def deflate_messages(s, name, rows, count, extras=False):
    """Autobahn 12/13: messages cut one after another from a data set, each echoed before the
    next is sent; fragmented after compression when the row says so."""
    s.expect(no_compare=True, timeout=15)
    data, binary = dataset(name)
    op = BINARY if binary else TEXT
    ptr = 0
    for size, frag in rows:
        for i in range(count):
            if ptr + size <= len(data):
                msg = data[ptr:ptr + size]
            else:
                msg = data[ptr:] + data[:ptr + size - len(data)]
            ptr = (ptr + size) % len(data)
            if not s.roundtrip(op, msg, frag=frag, what="%d-byte message %d%s: " % (
                    size, i + 1, " in %d-byte fragments" % frag if frag else "")):
                return
    if extras:
        # The same message twice (the second compresses against the first when the context is
        # kept), an empty one, and one sent uncompressed in the middle of compressed ones.
        msg = data[:5000]
        for what, payload, compress in (("repeat 1", msg, None), ("repeat 2", msg, None),
                                        ("empty", b"", None), ("uncompressed", msg, False),
                                        ("after uncompressed", msg, None)):
            if not s.roundtrip(op, payload, compress=compress, what=what + ": "):
                return


def accept_as_is(o):
    """Accepts the client's offer, granting what it asks of us (Autobahn's accept_deflate)."""
    out = "permessage-deflate"
    if o.get("server_no_context_takeover"):
        out += "; server_no_context_takeover"
    if "server_max_window_bits" in o:
        out += "; server_max_window_bits=%d" % o["server_max_window_bits"]
    return out


def answer(extra):
    """An answer to the client's offer that grants what it asks and adds extra."""
    return lambda o: accept_as_is(o) + extra


AUTOBAHN_OFFER = "permessage-deflate; client_no_context_takeover; client_max_window_bits"
for _j, _name in enumerate(DATASETS, 1):
    for _i, (_size, _frag) in enumerate(ROWS, 1):
        add("12.%d.%d" % (_j, _i), "%s: 4 compressed messages of %d bytes%s" % (
            _name, _size, ", fragments of %d" % _frag if _frag else ""),
            functools.partial(deflate_messages, name=_name, rows=[(_size, _frag)], count=4),
            Deflate(offer=AUTOBAHN_OFFER, client_args=[], respond=accept_as_is))

# Autobahn 13.1-13.7: the server is offered (offer), the client is answered (respond).
_SNCT, _CNCT = "; server_no_context_takeover", "; client_no_context_takeover"
COMBOS_13 = [
    ("default offer", AUTOBAHN_OFFER, answer("")),
    ("no context takeover", AUTOBAHN_OFFER + _SNCT, answer(_CNCT)),
    ("window 8", AUTOBAHN_OFFER + "; server_max_window_bits=8",
     answer("; client_max_window_bits=8")),
    ("window 15", AUTOBAHN_OFFER + "; server_max_window_bits=15",
     answer("; client_max_window_bits=15")),
    ("no context takeover, window 8", AUTOBAHN_OFFER + _SNCT + "; server_max_window_bits=8",
     answer(_CNCT + "; client_max_window_bits=8")),
    ("no context takeover, window 15", AUTOBAHN_OFFER + _SNCT + "; server_max_window_bits=15",
     answer(_CNCT + "; client_max_window_bits=15")),
    ("3 offers", "permessage-deflate" + _SNCT + "; server_max_window_bits=8, "
     "permessage-deflate" + _SNCT + ", " + AUTOBAHN_OFFER,
     answer(_CNCT + "; client_max_window_bits=8")),
]
for _j, (_desc, _offer, _resp) in enumerate(COMBOS_13, 1):
    for _i, (_size, _frag) in enumerate(ROWS, 1):
        add("13.%d.%d" % (_j, _i), "%s: 2 compressed messages of %d bytes%s" % (
            _desc, _size, ", fragments of %d" % _frag if _frag else ""),
            functools.partial(deflate_messages, name="json", rows=[(_size, _frag)], count=2),
            Deflate(offer=_offer, client_args=[], respond=_resp,
                    expect_offer=0 if _j == 7 else None))

# Extra: every window size and context mode, each way, with the compact message set.
EXTRA_13 = [("bare offer", "permessage-deflate", [], answer(""), {}),
            ("server_no_context_takeover offered / granted unasked",
             "permessage-deflate" + _SNCT, [], answer(_SNCT), {}),
            ("client_no_context_takeover offered", "permessage-deflate" + _CNCT,
             ["--deflate", "cnct"], answer(""), {"client_no_context_takeover": True}),
            ("client_no_context_takeover answered", None, [], answer(_CNCT), {}),
            ("bare client_max_window_bits", "permessage-deflate; client_max_window_bits", [],
             answer(""), {"client_max_window_bits": True})]
for _n in range(8, 16):
    EXTRA_13.append(("client_max_window_bits=%d offered" % _n,
                     "permessage-deflate; client_max_window_bits=%d" % _n,
                     ["--deflate", "cmwb=%d" % _n], answer(""), {"client_max_window_bits": _n}))
for _n in range(8, 16):
    EXTRA_13.append(("client_max_window_bits=%d answered" % _n, None, [],
                     answer("; client_max_window_bits=%d" % _n), {}))
for _n in range(8, 16):
    # A client asking for 15 may leave it out: 15 is what an absent parameter means.
    EXTRA_13.append(("server_max_window_bits=%d offered" % _n,
                     "permessage-deflate; server_max_window_bits=%d" % _n,
                     ["--deflate", "smwb=%d" % _n], accept_as_is,
                     {"server_max_window_bits": _n} if _n < 15 else {}))
for _n in range(8, 16):
    EXTRA_13.append(("server_max_window_bits=%d answered unasked" % _n, None, [],
                     answer("; server_max_window_bits=%d" % _n), {}))
EXTRA_13.append(("everything: windows 9/10, no context takeover both ways",
                 "permessage-deflate" + _SNCT + _CNCT + "; server_max_window_bits=9; "
                 "client_max_window_bits=10", ["--deflate", "smwb=9,cmwb=10,snct,cnct"],
                 answer(_CNCT + "; client_max_window_bits=10"),
                 {"server_max_window_bits": 9, "client_max_window_bits": 10,
                  "server_no_context_takeover": True, "client_no_context_takeover": True}))
EXTRA_13.append(("context takeover both ways, windows 8", "permessage-deflate; "
                 "server_max_window_bits=8; client_max_window_bits=8",
                 ["--deflate", "smwb=8,cmwb=8"], accept_as_is,
                 {"server_max_window_bits": 8, "client_max_window_bits": 8}))
for _i, (_desc, _offer, _args, _resp, _inoffer) in enumerate(EXTRA_13, 1):
    add("13.8.%d" % _i, "extra: %s" % _desc,
        functools.partial(deflate_messages, name="html", rows=COMPACT_ROWS, count=2, extras=True),
        Deflate(offer=_offer, client_args=_args, respond=_resp, expect_in_offer=_inoffer))


def nothing(s):
    s.expect([])


# Extra: offers a server must decline, answers a client must refuse.
NEGOTIATION = [
    ("server_max_window_bits=7", "permessage-deflate; server_max_window_bits=7", None, None),
    ("client_max_window_bits=16", "permessage-deflate; client_max_window_bits=16", None, None),
    ("unknown parameter", "permessage-deflate; foo", None, None),
    ("repeated parameter", "permessage-deflate" + _SNCT + _SNCT, None, None),
    ("server_max_window_bits without value", "permessage-deflate; server_max_window_bits",
     None, None),
    ("answer server_max_window_bits=7", None, [], "permessage-deflate; server_max_window_bits=7"),
    ("answer bare client_max_window_bits", None, [],
     "permessage-deflate; client_max_window_bits"),
    ("answer unknown parameter", None, [], "permessage-deflate; foo=1"),
    ("answer unknown extension", None, [], "x-unknown-extension"),
    ("answer two elements", None, [], "permessage-deflate, permessage-deflate"),
    ("answer ignores server_max_window_bits=10", None, ["--deflate", "smwb=10"],
     "permessage-deflate"),
    ("answer ignores server_no_context_takeover", None, ["--deflate", "snct"],
     "permessage-deflate"),
    ("answer client_max_window_bits=12 above the offered 10", None, ["--deflate", "cmwb=10"],
     "permessage-deflate; client_max_window_bits=12"),
]
for _i, (_desc, _offer, _args, _resp) in enumerate(NEGOTIATION, 1):
    add("13.9.%d" % _i, "extra: %s: %s" % (_desc, "declined" if _offer else "refused"), nothing,
        Deflate(offer=_offer, client_args=_args, respond=_resp, expect_decline=_offer is not None,
                expect_client_refuses=_args is not None))
add("13.9.%d" % (len(NEGOTIATION) + 1), "extra: a bad offer, then a good one: the good one",
    functools.partial(deflate_messages, name="json", rows=[(4096, 0)], count=2),
    Deflate(offer="permessage-deflate; server_max_window_bits=7, permessage-deflate; "
            "client_max_window_bits", expect_offer=0))
add("13.9.%d" % (len(NEGOTIATION) + 2), "extra: an unknown extension first, then deflate",
    functools.partial(deflate_messages, name="json", rows=[(4096, 0)], count=2),
    Deflate(offer="x-webkit-deflate-frame, permessage-deflate"))


# Extra: compressed framing.
def rsv1_on(s, where):
    fail_with(s, PROTO)
    data = s.compress(b"fragment one, fragment two " * 4)
    if where == "cont":
        s.frame(TEXT, data[:10], fin=False, rsv=4)
        s.frame(CONT, data[10:], fin=True, rsv=4)
    else:
        s.frame(PING, b"ping", rsv=4)


def corrupt(s, payload, code_set):
    s.expect([], by_me=False, codes=code_set, clean=False)
    s.frame(BINARY, payload, rsv=4)


def bomb(s):
    fail_with(s, TOO_BIG)
    c = zlib.compressobj(9, zlib.DEFLATED, -9)
    data = b"".join(c.compress(b"\x00" * MIB) for _ in range(17)) + c.flush(zlib.Z_SYNC_FLUSH)
    s.frame(BINARY, data[:-4], rsv=4)


def compressed_invalid_utf8(s):
    fail_with(s, INVALID)
    s.frame(TEXT, s.compress(b"valid text, then " + KOSME_BAD * 20), rsv=4)


def compressed_with_ping(s):
    msg = dataset("json")[0][:3000]
    s.expect([P(b"between"), M(TEXT, msg)])
    data = s.compress(msg)
    s.frame(TEXT, data[:100], fin=False, rsv=4)
    s.frame(PING, b"between")
    s.frame(CONT, data[100:])


def empty_compressed(s):
    s.expect([M(BINARY, b""), M(BINARY, b""), M(BINARY, b"x" * 300)])
    s.frame(BINARY, b"\x00", rsv=4)
    s.frame(BINARY, b"", rsv=4)
    s.message(BINARY, b"x" * 300)


def bfinal_message(s):
    msg = dataset("html")[0][:4000]
    s.expect([M(TEXT, msg), M(TEXT, msg)])
    c = zlib.compressobj(6, zlib.DEFLATED, -max(9, s.deflate["tx_bits"]))
    s.frame(TEXT, c.compress(msg) + c.flush(zlib.Z_FINISH), rsv=4)
    s.tx = None  # the peer starts a new stream after a final block
    s.message(TEXT, msg)


_DEFAULT = dict(offer="permessage-deflate; client_max_window_bits", client_args=[])
for _i, (_desc, _fn) in enumerate((
        ("RSV1 on a continuation frame: 1002", functools.partial(rsv1_on, where="cont")),
        ("RSV1 on a ping: 1002", functools.partial(rsv1_on, where="ping")),
        ("corrupt compressed data (reserved block type): 1007 or 1002",
         functools.partial(corrupt, payload=b"\xff\xff\xff\xff\x00", code_set=(INVALID, PROTO))),
        ("17 MiB of zeros compressed to a small frame: 1009", bomb),
        ("compressed text that is not UTF-8: 1007", compressed_invalid_utf8),
        ("compressed message in 2 fragments with a ping between", compressed_with_ping),
        ("empty compressed messages (00 and nothing)", empty_compressed),
        ("a message ending in a final (BFINAL) block", bfinal_message)), 1):
    add("13.10.%d" % _i, "extra: " + _desc, _fn, Deflate(**_DEFAULT))
