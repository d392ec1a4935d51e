// The WebSocket echo demo: a plain browser WebSocket talking to tincan's /echo.
//
// /echo?handshake makes tincan's first message a copy of the opening handshake, and /echo?frames
// makes it report every frame it receives and sends (as a text message of its own), so that this
// page can show what a script cannot otherwise see: the header bits, the masking key and the
// payload bytes as they crossed the wire (RFC 6455 section 5.2).
'use strict';

const $ = (id) => document.getElementById(id);
let ws = null;
let sawHandshake = false;
// Messages sent and not yet echoed, oldest first: {binary, data, t0}. An echo is recognised by
// matching the oldest; anything else that arrives is a report from tincan.
let pending = [];
let frameCount = 0;

const OPCODES = { 0: 'continuation', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function log(kind, dir, text, extra) {
  const li = el('li', kind);
  li.append(el('span', 'dir', dir), document.createTextNode(text));
  if (extra) li.append(el('span', 'rtt', extra));
  $('log').append(li);
  li.scrollIntoView({ block: 'nearest' });
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function parseHex(s) {
  const digits = (s || '').replace(/[^0-9a-fA-F]/g, '');
  const out = new Uint8Array(digits.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.substr(2 * i, 2), 16);
  return out;
}

function setConnected(on) {
  for (const id of ['text', 'send-text', 'send-binary', 'close']) $(id).disabled = !on;
  $('connect').disabled = on;
}

function showCrlf(s) {
  return s.replace(/\r\n/g, '\u21b5\n');
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---- the frame view ----------------------------------------------------------------------------

// One header byte: its hex value over its eight bits, each bit coloured by the field it belongs to.
function headerByte(value, fields) {
  const box = el('span', 'byte');
  box.append(el('span', 'hex', value.toString(16).padStart(2, '0')));
  const bits = el('span', 'bits');
  for (let i = 0; i < 8; i++) bits.append(el('i', fields[i], String((value >> (7 - i)) & 1)));
  box.append(bits);
  return box;
}

function field(dl, cls, name, value) {
  dl.append(el('dt', cls, name), el('dd', '', value));
}

// The header, byte by byte: FIN RSV1-3 opcode | MASK length7 | extended length | masking key.
function headerView(f, header) {
  const row = el('div', 'bytes');
  const len7 = header.length > 1 ? header[1] & 0x7f : 0;
  const extLen = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  header.forEach((b, i) => {
    let fields;
    if (i === 0) fields = ['f-fin', 'f-rsv1', 'f-rsv', 'f-rsv', 'f-op', 'f-op', 'f-op', 'f-op'];
    else if (i === 1) fields = ['f-mask', 'f-len', 'f-len', 'f-len', 'f-len', 'f-len', 'f-len', 'f-len'];
    else if (i < 2 + extLen) fields = Array(8).fill('f-len');
    else fields = Array(8).fill('f-key');
    row.append(headerByte(b, fields));
  });

  const dl = el('dl', 'fields');
  field(dl, 'f-fin', 'FIN', f.fin ? '1: the last frame of its message' : '0: more frames of this message follow');
  field(dl, 'f-rsv1', 'RSV1', f.rsv1 ? '1: compressed (permessage-deflate, RFC 7692)' : '0: not compressed');
  const name = OPCODES[f.opcode] || 'reserved';
  field(dl, 'f-op', 'opcode', `0x${f.opcode.toString(16)}: ${name}`);
  field(dl, 'f-mask', 'MASK', f.masked ? '1: the payload is masked (every frame a client sends)'
    : '0: not masked (a server never masks)');
  let lenText = `${len7}`;
  if (len7 === 126) lenText = `126: the next 2 bytes hold it: ${f.length}`;
  else if (len7 === 127) lenText = `127: the next 8 bytes hold it: ${f.length}`;
  field(dl, 'f-len', 'payload length', lenText + (f.length === 1 ? ' byte' : ' bytes'));
  if (f.masked) field(dl, 'f-key', 'masking key', f.mask);
  return [row, dl];
}

// Rows of at most 16 bytes: the wire bytes, the key repeated under them, and their XOR.
function xorView(wire, key) {
  const shown = wire.subarray(0, 64);
  const lines = [];
  for (let at = 0; at < shown.length; at += 16) {
    const part = shown.subarray(at, at + 16);
    const keyRow = Array.from(part, (_, i) => key[(at + i) & 3]);
    const plain = part.map((b, i) => b ^ keyRow[i]);
    const off = at.toString(16).padStart(4, '0');
    lines.push(`${off}  on the wire   ${hex(part)}`);
    lines.push(`      XOR key       ${hex(keyRow)}`);
    lines.push(`      = unmasked    ${hex(plain)}`);
  }
  if (wire.length > shown.length) lines.push(`      (${wire.length - shown.length} more bytes)`);
  return el('pre', 'xor', lines.join('\n'));
}

// What the (unmasked) payload means, when it can be read without the rest of the message.
function meaning(f, plain) {
  if (f.rsv1) {
    return 'DEFLATE-compressed bytes (RFC 7692 section 7.2.1): a compressed message can only be ' +
      'read with the ones before it on this connection, so its text is shown in the conversation above.';
  }
  if (f.opcode === 8) {
    if (plain.length < 2) return 'a close frame without a status code';
    const code = (plain[0] << 8) | plain[1];
    const reason = new TextDecoder().decode(plain.subarray(2));
    return `close code ${code}` + (reason ? `, reason "${reason}"` : '');
  }
  if (f.opcode === 1 || (f.opcode === 0 && !f.rsv1)) {
    return 'as UTF-8: ' + JSON.stringify(new TextDecoder().decode(plain));
  }
  return null;
}

function showFrame(f) {
  frameCount++;
  const wire = parseHex(f.payload);
  const header = parseHex(f.header);
  const key = parseHex(f.mask);
  const plain = f.masked && key.length === 4 ? wire.map((b, i) => b ^ key[i & 3]) : wire;
  const li = el('li', 'frame ' + (f.dir === 'in' ? 'in' : 'out'));
  const title = el('p', 'frame-title');
  title.append(el('span', 'dir', f.dir === 'in' ? 'browser \u2192 tincan' : 'tincan \u2192 browser'));
  const kind = (OPCODES[f.opcode] || 'reserved') + ' frame';
  title.append(document.createTextNode(`${kind}: ${header.length + f.length} bytes on the wire ` +
    `(header ${header.length} + payload ${f.length})`));
  li.append(title, ...headerView(f, header));
  if (f.length) {
    if (f.masked) {
      li.append(xorView(wire, key));
    } else {
      const shown = wire.subarray(0, 64);
      li.append(el('pre', 'xor', `payload       ${hex(shown)}` +
        (f.length > shown.length ? `\n              (${f.length - shown.length} more bytes)` : '')));
    }
    const m = meaning(f, plain.subarray(0, Math.min(plain.length, 256)));
    if (m) li.append(el('p', 'meaning', m + (f.truncated ? ' (first 256 bytes)' : '')));
  }
  $('frames').append(li);
  $('frames-note').textContent = '';
  if (f.tcp) {
    $('tcp').textContent = `TCP as tincan's kernel sees it: smoothed RTT ${(f.tcp.rtt_us / 1000)
      .toFixed(3)} ms (\u00b1${(f.tcp.rttvar_us / 1000).toFixed(3)} ms), congestion window ` +
      `${f.tcp.cwnd} segments of up to ${f.tcp.mss} bytes.`;
  }
}

// ---- the connection ------------------------------------------------------------------------------

function isEcho(data) {
  const p = pending[0];
  if (!p) return false;
  if (typeof data === 'string') return !p.binary && p.data === data;
  return p.binary && sameBytes(p.data, new Uint8Array(data));
}

function echoed(data) {
  const p = pending.shift();
  const ms = (performance.now() - p.t0).toFixed(1);
  if (typeof data === 'string') log('in', '\u2190 text', data, `echo after ${ms} ms`);
  else log('in', '\u2190 binary', hex(new Uint8Array(data)), `echo after ${ms} ms`);
}

function onMessage(ev) {
  if (isEcho(ev.data)) return echoed(ev.data);
  if (typeof ev.data === 'string' && ev.data.startsWith('{"type":')) {
    try {
      const m = JSON.parse(ev.data);
      if (m.type === 'handshake' && !sawHandshake) {
        sawHandshake = true;
        $('hs-request').textContent = showCrlf(m.request);
        $('hs-response').textContent = showCrlf(m.response);
        $('hs-note').textContent = '\u21b5 marks each CRLF line end. Sec-WebSocket-Accept is ' +
          'base64(SHA-1(Sec-WebSocket-Key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).';
        return;
      }
      if (m.type === 'frame') return showFrame(m);
    } catch (e) { /* not a report: an ordinary message */ }
  }
  if (typeof ev.data === 'string') log('in', '\u2190 text', ev.data);
  else log('in', '\u2190 binary', hex(new Uint8Array(ev.data)));
}

function connect() {
  const url = new URL('/echo?handshake&frames', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  sawHandshake = false;
  pending = [];
  $('state').textContent = 'connecting to ' + url.href;
  ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {
    $('state').textContent = 'open' + (ws.extensions ? ' (' + ws.extensions + ')' : '');
    setConnected(true);
    log('event', 'open', url.href);
  };
  ws.onmessage = onMessage;
  ws.onclose = (ev) => {
    setConnected(false);
    $('state').textContent = 'closed';
    log('event', 'close', 'code ' + ev.code + (ev.reason ? ' (' + ev.reason + ')' : '') +
      (ev.wasClean ? ', clean closing handshake' : ', not clean'));
    if (!frameCount) {
      $('frames-note').textContent = 'tincan reported no frames on this connection (a server ' +
        'without /echo?frames support answers the messages without reports).';
    }
  };
  ws.onerror = () => log('event', 'error', 'the connection failed');
}

$('connect').addEventListener('click', connect);
$('close').addEventListener('click', () => ws && ws.close(1000, 'bye'));
$('send').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('text').value;
  pending.push({ binary: false, data: text, t0: performance.now() });
  ws.send(text);
  log('out', '\u2192 text', text);
});
$('send-binary').addEventListener('click', () => {
  const bytes = new TextEncoder().encode($('text').value);
  pending.push({ binary: true, data: bytes, t0: performance.now() });
  ws.send(bytes);
  log('out', '\u2192 binary', hex(bytes));
});
$('clear-frames').addEventListener('click', () => {
  $('frames').replaceChildren();
});
connect();
