"""Sec-WebSocket-Extensions for wsconf.py: parsing (RFC 6455 section 9.1) and the checks of a
permessage-deflate negotiation (RFC 7692 section 7.1) from either side."""

import re

TCHARS = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def parse_extensions(value):
    """RFC 6455 section 9.1: a list of (name, [(param, value-or-None)]). Raises ValueError."""
    out = []
    s = value.encode("latin-1") if isinstance(value, str) else value
    i, n = 0, len(s)

    def ows():
        nonlocal i
        while i < n and s[i] in b" \t":
            i += 1

    def token():
        nonlocal i
        start = i
        while i < n and s[i] in TCHARS:
            i += 1
        if i == start:
            raise ValueError("token expected at %d in %r" % (start, value))
        return s[start:i].decode()

    while True:
        ows()
        if i >= n:
            break
        if s[i] == ord(","):
            i += 1
            continue
        name, params = token(), []
        while True:
            ows()
            if i >= n or s[i] == ord(","):
                break
            if s[i] != ord(";"):
                raise ValueError("';' expected at %d in %r" % (i, value))
            i += 1
            ows()
            pname, pval = token(), None
            ows()
            if i < n and s[i] == ord("="):
                i += 1
                ows()
                if i < n and s[i] == ord('"'):
                    i += 1
                    start = i
                    while i < n and s[i] != ord('"'):
                        i += 1
                    if i >= n:
                        raise ValueError("unterminated quoted-string in %r" % value)
                    pval = s[start:i].decode()
                    i += 1
                else:
                    pval = token()
            params.append((pname.lower(), pval))
        out.append((name.lower(), params))
    return out


def pmd_params(params):
    """The parameters of one permessage-deflate element as a dict; ValueError when invalid
    (unknown or repeated names, bad values). Bare client_max_window_bits is stored as True."""
    d = {}
    for name, val in params:
        if name in d:
            raise ValueError("parameter %s repeated" % name)
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if val is not None:
                raise ValueError("%s takes no value" % name)
            d[name] = True
        elif name in ("server_max_window_bits", "client_max_window_bits"):
            if val is None:
                if name == "server_max_window_bits":
                    raise ValueError("server_max_window_bits needs a value")
                d[name] = True
            elif not re.fullmatch(r"[1-9][0-9]?", val) or not 8 <= int(val) <= 15:
                raise ValueError("%s=%s out of range" % (name, val))
            else:
                d[name] = int(val)
        else:
            raise ValueError("unknown parameter %s" % name)
    return d


def server_deflate(spec, answer):
    """Checks the server's answer to our offer; returns (deflate params or None, problem)."""
    offers = []
    for name, params in parse_extensions(spec.offer or ""):
        try:
            offers.append(pmd_params(params) if name == "permessage-deflate" else None)
        except ValueError:
            offers.append(None)
    valid = [o for o in offers if o is not None]
    if answer is None:
        if valid and not spec.expect_decline:
            return None, "the server declined a valid permessage-deflate offer"
        return None, None
    try:
        elems = parse_extensions(answer)
    except ValueError as e:
        return None, "malformed Sec-WebSocket-Extensions answer: %s" % e
    if len(elems) != 1 or elems[0][0] != "permessage-deflate":
        return None, "answer %r is not one permessage-deflate element" % answer
    if spec.expect_decline:
        return None, "the server accepted an offer it must decline: %r" % answer
    try:
        r = pmd_params(elems[0][1])
    except ValueError as e:
        return None, "invalid answer %r: %s" % (answer, e)
    if r.get("client_max_window_bits") is True:
        return None, "answer %r: client_max_window_bits without a value" % answer
    # The answer must fit one of our offers (RFC 7692 section 7.1).
    why = "answer %r fits none of the offers" % answer
    for o in valid:
        if o.get("server_no_context_takeover") and not r.get("server_no_context_takeover"):
            continue
        if "server_max_window_bits" in o and r.get("server_max_window_bits", 16) > o[
                "server_max_window_bits"]:
            continue
        if "client_max_window_bits" in r:
            if "client_max_window_bits" not in o:
                continue
            if o["client_max_window_bits"] is not True and r["client_max_window_bits"] > o[
                    "client_max_window_bits"]:
                continue
        if spec.expect_offer is not None and o is not valid[spec.expect_offer]:
            why = "the server took another offer than #%d: %r" % (spec.expect_offer + 1, answer)
            continue
        ours = r.get("client_max_window_bits", 15)
        if o.get("client_max_window_bits") not in (None, True):
            ours = min(ours, o["client_max_window_bits"])
        return dict(rx_bits=r.get("server_max_window_bits", 15),
                    rx_nct=bool(r.get("server_no_context_takeover")),
                    tx_bits=ours,
                    tx_nct=bool(r.get("client_no_context_takeover") or
                                o.get("client_no_context_takeover"))), None
    return None, why


def client_deflate(spec, offer_header):
    """Our answer to the client's offer and the resulting params. (answer, params, problem)."""
    try:
        elems = parse_extensions(offer_header or "")
        offers = [pmd_params(p) for n, p in elems if n == "permessage-deflate"]
    except ValueError as e:
        return None, None, "invalid offer %r: %s" % (offer_header, e)
    if spec is None:
        return None, None, None  # we decline: the client must then speak without extensions
    if not offers:
        return None, None, "the client offered no permessage-deflate (%r)" % offer_header
    o = offers[0]
    for name, val in spec.expect_in_offer.items():
        if o.get(name) != val:
            return None, None, "offer %r: expected %s=%s" % (offer_header, name, val)
    answer = spec.respond(o) if callable(spec.respond) else spec.respond
    if spec.expect_client_refuses:
        return answer, None, None
    r = pmd_params(parse_extensions(answer)[0][1]) if answer else None
    if r is None:
        return answer, None, None
    cmwb = r.get("client_max_window_bits")
    if cmwb is None and o.get("client_max_window_bits") not in (None, True):
        cmwb = o["client_max_window_bits"]
    return answer, dict(rx_bits=cmwb or 15,
                        rx_nct=bool(r.get("client_no_context_takeover") or
                                    o.get("client_no_context_takeover")),
                        tx_bits=r.get("server_max_window_bits", 15),
                        tx_nct=bool(r.get("server_no_context_takeover"))), None
