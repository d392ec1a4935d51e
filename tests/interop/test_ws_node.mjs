// WebSocket interop with Node's `ws` (the reference implementation most servers are tested
// against), both ways:
//   - `ws` as the client of tincan's /echo: permessage-deflate offers, echo of every size and
//     kind, fragments, pings, 100 concurrent clients, and every close path; raw frames over a
//     plain TCP socket for what `ws` refuses to send (bad UTF-8, unmasked, reserved bits...);
//   - `ws` as the server for tincan's client `tcws`: echo, deflate settings, close codes and exit
//     codes, subprotocols, headers, and broken handshakes from a raw TCP server.
//
// Env: TINCAN_BIN, TCWS_BIN, TINCAN_SRC. Prints one line per check; exits non-zero on a failure.

import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import {
  checkChildSanitizers, checklist, describeRun, run, runLive, sleep, startTincan, stopAndCheck, TCWS_BIN, watchdog,
  within,
} from './lib.mjs';

const t = checklist();
watchdog(170000);

const MiB = 1024 * 1024;
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const sha = (b) => createHash('sha256').update(b).digest('hex').slice(0, 16);

async function section(name, fn) {
  try {
    await fn();
  } catch (e) {
    t.bad(name, e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : String(e));
  }
}

// ---- a `ws` client with a message queue ------------------------------------------------------------

function connect(url, opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: 10000, ...opts });
    const c = { ws, queue: [], waiters: [], errors: [], response: null };
    c.closed = new Promise((r) => ws.on('close', (code, reason) => {
      for (const w of c.waiters.splice(0)) w.reject(new Error(`connection closed (${code}) while waiting for a message`));
      r({ code, reason: reason.toString() });
    }));
    ws.on('upgrade', (res) => (c.response = res));
    ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      const w = c.waiters.shift();
      if (w) w.resolve(m);
      else c.queue.push(m);
    });
    ws.on('error', (e) => {
      c.errors.push(e);
      reject(e);
    });
    ws.on('open', () => resolve(c));
    c.recv = (ms = 30000) => {
      if (c.queue.length) return Promise.resolve(c.queue.shift());
      return within(ms, new Promise((res, rej) => c.waiters.push({ resolve: res, reject: rej })), 'waiting for a message');
    };
    c.ext = () => (c.response && c.response.headers['sec-websocket-extensions']) || '';
  });
}

async function echoCheck(c, desc, payload, binary) {
  const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  c.ws.send(payload, { binary });
  const m = await c.recv(60000);
  const same = m.data.length === buf.length && m.data.equals(buf);
  t.check(`${desc}: echo is ${binary ? 'binary' : 'text'}`, m.isBinary === binary, `isBinary ${m.isBinary}`);
  t.check(`${desc}: echo has the same ${buf.length} bytes`, same,
          `got ${m.data.length} bytes (sha ${sha(m.data)} vs ${sha(buf)})`);
}

async function closeClient(c, code = 1000) {
  c.ws.close(code);
  return within(10000, c.closed, 'close');
}

// A compressible text of n bytes with repeats at many distances (short and far back), so the
// deflate window size matters.
function wordText(n, seed = 1) {
  const words = ['tincan', 'socket', 'frame', 'deflate', 'window', 'héllo', 'wörld', '✓', '😀', 'mask',
                 'opcode', 'payload', 'context', 'takeover', 'zlib', 'echo'];
  let x = seed;
  const parts = [];
  let len = 0;
  while (len < n) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const w = words[x % words.length] + (x % 7 === 0 ? String(x % 1000) : '') + ' ';
    parts.push(w);
    len += Buffer.byteLength(w);
  }
  const b = Buffer.from(parts.join(''));
  // Cut on an ASCII byte so the text stays UTF-8; pad with 'x' to exactly n bytes.
  let end = Math.min(n, b.length);
  while (end > 0 && b[end - 1] >= 0x80) end--;
  return Buffer.concat([b.subarray(0, end), Buffer.alloc(n - end, 'x')]);
}

// ---- raw frames ------------------------------------------------------------------------------------

function encodeFrame({ fin = true, rsv = 0, opcode, payload = Buffer.alloc(0), mask = true, declaredLen }) {
  const p = Buffer.from(payload);
  const n = declaredLen !== undefined ? declaredLen : BigInt(p.length);
  const m = mask ? 0x80 : 0;
  const b0 = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  let hdr;
  if (n < 126n) hdr = Buffer.from([b0, m | Number(n)]);
  else if (n < 65536n) {
    hdr = Buffer.from([b0, m | 126, 0, 0]);
    hdr.writeUInt16BE(Number(n), 2);
  } else {
    hdr = Buffer.alloc(10);
    hdr[0] = b0;
    hdr[1] = m | 127;
    hdr.writeBigUInt64BE(n, 2);
  }
  if (!mask) return Buffer.concat([hdr, p]);
  const key = randomBytes(4);
  for (let i = 0; i < p.length; i++) p[i] ^= key[i & 3];
  return Buffer.concat([hdr, key, p]);
}

// Parses the server's frames out of buf; returns {frames, rest}.
function decodeFrames(buf) {
  const frames = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    const b0 = buf[off];
    const b1 = buf[off + 1];
    let len = b1 & 0x7f;
    let h = 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      h = 4;
    } else if (len === 127) {
      if (buf.length - off < 10) break;
      len = Number(buf.readBigUInt64BE(off + 2));
      h = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked) h += 4;
    if (buf.length - off < h + len) break;
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked,
                  payload: buf.subarray(off + h, off + h + len) });
    off += h + len;
  }
  return { frames, rest: buf.subarray(off) };
}

// A hand-made client: handshake over net.Socket, then raw bytes both ways.
function rawConnect(port, { path = '/echo', headers = {}, key = randomBytes(16).toString('base64'),
                            version = '13', omit = [] } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const r = { sock, buf: Buffer.alloc(0), frames: [], ended: false, status: 0, head: '' };
    let waiter = null;
    const wake = () => {
      if (waiter) {
        const w = waiter;
        waiter = null;
        w();
      }
    };
    r.ended = false;
    r.endPromise = new Promise((res) => sock.on('close', () => {
      r.ended = true;
      wake();
      res();
    }));
    sock.on('error', () => {});
    const hdrs = {
      Host: `127.0.0.1:${port}`, Upgrade: 'websocket', Connection: 'Upgrade',
      'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': version, ...headers,
    };
    let req = `GET ${path} HTTP/1.1\r\n`;
    for (const [k, v] of Object.entries(hdrs)) if (!omit.includes(k)) req += `${k}: ${v}\r\n`;
    sock.write(req + '\r\n');
    let gotHead = false;
    sock.on('data', (d) => {
      r.buf = Buffer.concat([r.buf, d]);
      if (!gotHead) {
        const i = r.buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        gotHead = true;
        r.head = r.buf.subarray(0, i).toString('latin1');
        r.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(r.head)?.[1] || 0);
        r.buf = r.buf.subarray(i + 4);
        const accept = /\r\nsec-websocket-accept: *([^\r]*)/i.exec(r.head)?.[1];
        r.acceptOk = accept === createHash('sha1').update(key + GUID).digest('base64');
        resolve(r);
      }
      const { frames, rest } = decodeFrames(r.buf);
      r.frames.push(...frames);
      r.buf = rest;
      wake();
    });
    sock.on('close', () => {
      if (!gotHead) reject(new Error('connection closed before a response'));
    });
    setTimeout(() => reject(new Error('no handshake response in 10 s')), 10000).unref();
    r.send = (f) => sock.write(Buffer.isBuffer(f) ? f : encodeFrame(f));
    // Waits for the next frame (null when the connection ended first).
    r.next = async (ms = 10000) => {
      const deadline = Date.now() + ms;
      while (!r.frames.length && !r.ended && Date.now() < deadline) {
        await new Promise((res) => {
          waiter = res;
          setTimeout(wake, Math.max(1, deadline - Date.now())).unref();
        });
      }
      return r.frames.length ? r.frames.shift() : null;
    };
    // Waits for a close frame, answers it, then waits for the TCP connection to end.
    r.closeCode = async (ms = 10000) => {
      let f;
      while ((f = await r.next(ms)) && f.opcode !== 8);
      if (!f) return { code: null, ended: r.ended };
      const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
      const reason = f.payload.subarray(2).toString();
      if (!sock.destroyed) sock.write(encodeFrame({ opcode: 8, payload: f.payload.subarray(0, 2) }));
      const ended = await Promise.race([r.endPromise.then(() => true), sleep(ms).then(() => false)]);
      return { code, reason, ended, masked: f.masked };
    };
  });
}

// ---- tcws against a `ws` server -------------------------------------------------------------------

async function wsServer(opts, onConnection) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...opts });
  const s = { wss, events: [], errors: [], conns: [] };
  wss.on('connection', (ws, req) => {
    const rec = { ws, req, messages: [], close: null, extensions: ws.extensions, protocol: ws.protocol };
    rec.closed = new Promise((r) => ws.on('close', (code, reason) => {
      rec.close = { code, reason: reason.toString() };
      r(rec.close);
    }));
    ws.on('error', (e) => {
      rec.error = e;
      s.errors.push(e);
    });
    ws.on('message', (data, isBinary) => rec.messages.push({ data, isBinary }));
    s.conns.push(rec);
    onConnection(ws, req, rec);
  });
  await new Promise((r) => wss.on('listening', r));
  s.port = wss.address().port;
  s.url = (path = '/') => `ws://127.0.0.1:${s.port}${path}`;
  s.close = () => new Promise((r) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => r());
  });
  return s;
}

const echoHandler = (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));

// ---- part 1: `ws` clients against tincan's /echo --------------------------------------------------

async function clientTests(server) {
  const url = `ws://127.0.0.1:${server.port}/echo`;

  await section('deflate negotiation', async () => {
    const variants = [
      ['no offer', false, (e) => e === ''],
      ['default offer', true, (e) => /^permessage-deflate\b/.test(e)],
      ['server_no_context_takeover', { serverNoContextTakeover: true },
       (e) => /server_no_context_takeover/.test(e)],
      ['client_no_context_takeover', { clientNoContextTakeover: true }, (e) => /^permessage-deflate\b/.test(e)],
      ['server_max_window_bits=9', { serverMaxWindowBits: 9 }, (e) => /server_max_window_bits=9\b/.test(e)],
      ['server_max_window_bits=8', { serverMaxWindowBits: 8 }, (e) => /server_max_window_bits=8\b/.test(e)],
      ['client_max_window_bits=10', { clientMaxWindowBits: 10 }, (e) => /^permessage-deflate\b/.test(e)],
      ['client_max_window_bits=8', { clientMaxWindowBits: 8 }, (e) => /^permessage-deflate\b/.test(e)],
      ['all parameters', { serverNoContextTakeover: true, clientNoContextTakeover: true,
                           serverMaxWindowBits: 10, clientMaxWindowBits: 11 },
       (e) => /server_no_context_takeover/.test(e) && /server_max_window_bits=10\b/.test(e)],
    ];
    for (const [name, pmd, expect] of variants) {
      await section(`deflate ${name}`, async () => {
        const offer = pmd === false ? false : { threshold: 0, ...(pmd === true ? {} : pmd) };
        const c = await connect(url, { perMessageDeflate: offer });
        const ext = c.ext();
        t.check(`deflate ${name}: negotiated as expected`, expect(ext), `Sec-WebSocket-Extensions: ${JSON.stringify(ext)}`);
        t.eq(`deflate ${name}: ws.extensions`, pmd === false ? '' : 'permessage-deflate', c.ws.extensions);
        // Several messages on one connection: context takeover (or not) must hold on both sides.
        for (let i = 0; i < 3; i++) await echoCheck(c, `deflate ${name}: text #${i}`, wordText(20000 + i, i + 1).toString(), false);
        await echoCheck(c, `deflate ${name}: 300 KB text with far repeats`, wordText(300000, 7), false);
        await echoCheck(c, `deflate ${name}: random binary`, randomBytes(70000), true);
        await echoCheck(c, `deflate ${name}: short text`, 'hi', false);
        const before = c.ws._socket.bytesRead;
        await echoCheck(c, `deflate ${name}: 1 MiB of one byte`, Buffer.alloc(MiB, 'a'), true);
        const wire = c.ws._socket.bytesRead - before;
        if (pmd === false) t.check(`deflate ${name}: echo travels uncompressed`, wire > MiB, `${wire} bytes on the wire`);
        else t.check(`deflate ${name}: echo travels compressed`, wire < MiB / 10, `${wire} bytes on the wire`);
        const cl = await closeClient(c);
        t.eq(`deflate ${name}: close code`, 1000, cl.code);
      });
    }
  });

  await section('echo', async () => {
    for (const pmd of [false, true]) {
      const tag = pmd ? 'deflate' : 'plain';
      const c = await connect(url, { perMessageDeflate: pmd && { threshold: 0 } });
      await echoCheck(c, `${tag}: ascii text`, 'hello, tincan', false);
      await echoCheck(c, `${tag}: unicode text`, 'héllo wörld ✓ 😀 κόσμε', false);
      await echoCheck(c, `${tag}: every byte value`, Buffer.from([...Array(256).keys()]), true);
      await echoCheck(c, `${tag}: empty text`, '', false);
      await echoCheck(c, `${tag}: empty binary`, Buffer.alloc(0), true);
      for (const n of [125, 126, 127, 65535, 65536, 65537]) {
        await echoCheck(c, `${tag}: ${n}-byte binary`, randomBytes(n), true);
        await echoCheck(c, `${tag}: ${n}-byte text`, 'y'.repeat(n), false);
      }
      // Binary that is not UTF-8 must stay binary, and text that looks binary must stay text.
      await echoCheck(c, `${tag}: binary that is not UTF-8`, Buffer.from([0xff, 0xfe, 0xc0, 0x80]), true);
      const cl = await closeClient(c);
      t.eq(`${tag}: close code`, 1000, cl.code);
    }
  });

  await section('large messages', async () => {
    for (const pmd of [false, true]) {
      const tag = pmd ? 'deflate' : 'plain';
      const c = await connect(url, { perMessageDeflate: pmd, maxPayload: 64 * MiB });
      await echoCheck(c, `${tag}: 16 MiB - 1 KiB binary`, randomBytes(16 * MiB - 1024), true);
      await echoCheck(c, `${tag}: 16 MiB text`, wordText(16 * MiB, 3).toString(), false);
      const cl = await closeClient(c);
      t.eq(`${tag}: close code after large messages`, 1000, cl.code);
    }
  });

  await section('fragmented messages', async () => {
    for (const pmd of [false, true]) {
      const tag = pmd ? 'deflate' : 'plain';
      const c = await connect(url, { perMessageDeflate: pmd && { threshold: 0 } });
      c.ws.send('Hello, ', { fin: false });
      c.ws.send('fragmented ', { fin: false });
      c.ws.send('world', { fin: true });
      let m = await c.recv();
      t.check(`${tag}: three text fragments echo as one text message`,
              !m.isBinary && m.data.toString() === 'Hello, fragmented world', `${m.isBinary} ${m.data}`);
      const parts = [randomBytes(1000), randomBytes(70000), randomBytes(1)];
      parts.forEach((p, i) => c.ws.send(p, { binary: true, fin: i === parts.length - 1 }));
      m = await c.recv();
      t.check(`${tag}: three binary fragments echo as one binary message`,
              m.isBinary && m.data.equals(Buffer.concat(parts)), `${m.isBinary} ${m.data.length} bytes`);
      // A character split between fragments is still valid UTF-8.
      c.ws.send(Buffer.from([0xe2, 0x82]), { binary: false, fin: false });
      c.ws.send(Buffer.from([0xac, 0x21]), { fin: true });
      m = await c.recv();
      t.check(`${tag}: a UTF-8 character split between fragments`, !m.isBinary && m.data.toString() === '€!', `${m.data.toString('hex')}`);
      // Large compressible fragments: one deflate stream across frames when compressed.
      const big = wordText(200000, 5);
      for (let i = 0; i < 4; i++) c.ws.send(big.subarray(i * 50000, (i + 1) * 50000), { binary: false, fin: i === 3 });
      m = await c.recv();
      t.check(`${tag}: 4 large text fragments`, !m.isBinary && m.data.equals(big), `${m.data.length} bytes`);
      if (!pmd) {
        // A ping between fragments is answered at once and does not break the message.
        c.ws.send('a', { fin: false });
        const pong = new Promise((r) => c.ws.once('pong', r));
        c.ws.ping('between');
        const pd = await within(10000, pong, 'pong');
        c.ws.send('b', { fin: true });
        m = await c.recv();
        t.check(`${tag}: ping between fragments`, pd.toString() === 'between' && m.data.toString() === 'ab',
                `pong ${pd}, message ${m.data}`);
      }
      const cl = await closeClient(c);
      t.eq(`${tag}: close code after fragments`, 1000, cl.code);
    }
  });

  await section('ping', async () => {
    const c = await connect(url);
    for (const payload of [Buffer.from('ping-123'), Buffer.alloc(0), randomBytes(125)]) {
      const pong = new Promise((r) => c.ws.once('pong', r));
      c.ws.ping(payload);
      const got = await within(10000, pong, 'pong');
      t.check(`ping with ${payload.length} bytes: pong carries the same payload`, got.equals(payload), got.toString('hex'));
    }
    await closeClient(c);
  });

  await section('100 concurrent clients', async () => {
    const N = 100;
    const M = 100;
    const clients = await Promise.all(Array.from({ length: N }, (_, i) =>
      connect(url, { perMessageDeflate: i % 2 === 0 })));
    t.eq('100 clients connected', N, clients.length);
    const results = await Promise.all(clients.map(async (c, i) => {
      const sent = [];
      for (let j = 0; j < M; j++) {
        const s = `client ${i} message ${j} ${'z'.repeat(j * 7)}`;
        sent.push(s);
        c.ws.send(s);
      }
      let good = 0;
      for (let j = 0; j < M; j++) {
        const m = await c.recv(60000);
        if (!m.isBinary && m.data.toString() === sent[j]) good++;
      }
      const cl = await closeClient(c);
      return good === M && cl.code === 1000;
    }));
    t.eq('100 clients x 100 messages all echoed in order, all closed 1000', N, results.filter(Boolean).length);
  });

  await section('close paths', async () => {
    let c = await connect(url);
    c.ws.close(1000, 'bye');
    let cl = await within(10000, c.closed, 'close');
    t.eq('client closes 1000 + reason: server answers 1000', 1000, cl.code);
    t.check('client closes 1000 + reason: answer reason is empty or the same', cl.reason === '' || cl.reason === 'bye', cl.reason);

    c = await connect(url);
    c.ws.close(4000, 'custom');
    cl = await within(10000, c.closed, 'close');
    t.eq('client closes 4000: server answers 4000', 4000, cl.code);

    c = await connect(url);
    c.ws.close();
    cl = await within(10000, c.closed, 'close');
    t.eq('client closes without a code: server answers without one (1005)', 1005, cl.code);

    c = await connect(url);
    c.ws.send(randomBytes(4 * MiB));
    c.ws.terminate();
    await within(10000, c.closed, 'terminate');
    c = await connect(url);
    c.ws.send('hello');
    await sleep(5);
    c.ws.terminate();
    c = await connect(url);
    await echoCheck(c, 'after clients terminated abruptly, a new client', 'still here', false);
    await closeClient(c);

    // Over the 16 MiB limit: the server refuses with 1009.
    for (const [tag, pmd, payload] of [
      ['plain binary', false, () => randomBytes(16 * MiB + 1)],
      ['deflate text (decompressed size)', true, () => Buffer.alloc(16 * MiB + 1, 'a').toString()],
    ]) {
      c = await connect(url, { perMessageDeflate: pmd });
      c.ws.on('error', () => {});
      c.ws.send(payload());
      cl = await within(30000, c.closed, 'close after an oversized message');
      t.eq(`16 MiB + 1 byte (${tag}): server closes 1009`, 1009, cl.code);
    }
    c = await connect(url);
    await echoCheck(c, 'after oversized messages, a new client', 'ok', false);
    await closeClient(c);
  });
}

async function rawTests(server) {
  const port = server.port;
  const cases = [
    ['invalid UTF-8 text (ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80)', [1007],
     [{ opcode: 1, payload: Buffer.from('cebae1bdb9cf83cebcceb5eda080', 'hex') }]],
    ['text ending in a truncated UTF-8 sequence', [1007], [{ opcode: 1, payload: Buffer.from('61e282', 'hex') }]],
    ['invalid UTF-8 in the second fragment', [1007],
     [{ opcode: 1, fin: false, payload: Buffer.from('ab') }, { opcode: 0, payload: Buffer.from('c0af', 'hex') }]],
    ['unmasked client frame', [1002], [{ opcode: 1, mask: false, payload: Buffer.from('hello') }]],
    ['reserved opcode 3', [1002], [{ opcode: 3, payload: Buffer.from('x') }]],
    ['reserved control opcode 0xB', [1002], [{ opcode: 0xb }]],
    ['RSV1 without permessage-deflate', [1002], [{ opcode: 1, rsv: 4, payload: Buffer.from('x') }]],
    ['RSV2 set', [1002], [{ opcode: 1, rsv: 2, payload: Buffer.from('x') }]],
    ['RSV3 set', [1002], [{ opcode: 2, rsv: 1, payload: Buffer.from('x') }]],
    ['ping with 126 bytes', [1002], [{ opcode: 9, payload: Buffer.alloc(126) }]],
    ['fragmented ping', [1002], [{ opcode: 9, fin: false, payload: Buffer.from('x') }]],
    ['continuation with no message', [1002], [{ opcode: 0, payload: Buffer.from('x') }]],
    ['new text frame inside a fragmented message', [1002],
     [{ opcode: 1, fin: false, payload: Buffer.from('a') }, { opcode: 1, payload: Buffer.from('b') }]],
    ['close frame with a 1-byte payload', [1002], [{ opcode: 8, payload: Buffer.from([3]) }]],
    ['close code 999', [1002], [{ opcode: 8, payload: Buffer.from([0x03, 0xe7]) }]],
    ['close code 1005', [1002], [{ opcode: 8, payload: Buffer.from([0x03, 0xed]) }]],
    ['close code 1006', [1002], [{ opcode: 8, payload: Buffer.from([0x03, 0xee]) }]],
    ['close code 1015', [1002], [{ opcode: 8, payload: Buffer.from([0x03, 0xf7]) }]],
    ['close code 5000', [1002], [{ opcode: 8, payload: Buffer.from([0x13, 0x88]) }]],
    ['close reason not UTF-8', [1007, 1002], [{ opcode: 8, payload: Buffer.from('03e8ceba ed a080'.replace(/ /g, ''), 'hex') }]],
    ['64-bit length with the top bit set', [1002, 1009], [{ opcode: 2, declaredLen: 1n << 63n }]],
    ['declared length over 16 MiB (header only)', [1009], [{ opcode: 2, declaredLen: BigInt(16 * MiB + 1) }]],
  ];
  for (const [name, want, frames] of cases) {
    await section(`raw: ${name}`, async () => {
      const r = await rawConnect(port);
      for (const f of frames) r.send(f);
      const cl = await r.closeCode();
      t.check(`raw: ${name} -> close ${want.join(' or ')}`, want.includes(cl.code), `got ${cl.code}`);
      t.check(`raw: ${name} -> the server closes TCP`, cl.ended, 'still open 10 s later');
      r.sock.destroy();
    });
  }

  await section('raw: valid exchanges', async () => {
    let r = await rawConnect(port);
    t.eq('raw: handshake status', 101, r.status);
    t.check('raw: Sec-WebSocket-Accept is right', r.acceptOk, r.head);
    t.check('raw: no extension answered when none offered', !/sec-websocket-extensions/i.test(r.head), r.head);
    r.send({ opcode: 1, fin: false, payload: Buffer.from('f09f', 'hex') });
    r.send({ opcode: 9, payload: Buffer.from('in the middle') });
    r.send({ opcode: 0, payload: Buffer.from('9880', 'hex') });
    const f1 = await r.next();
    const f2 = await r.next();
    t.check('raw: ping inside a fragmented message gets its pong first',
            f1 && f1.opcode === 0xa && f1.payload.toString() === 'in the middle', JSON.stringify(f1));
    t.check('raw: split 4-byte character echoes whole, unmasked, FIN, no RSV',
            f2 && f2.opcode === 1 && f2.fin && !f2.masked && f2.rsv === 0 && f2.payload.toString('hex') === 'f09f9880',
            JSON.stringify(f2));
    // A frame written a byte at a time.
    const bytes = encodeFrame({ opcode: 2, payload: Buffer.from('dribble') });
    for (const b of bytes) {
      r.sock.write(Buffer.from([b]));
      await sleep(2);
    }
    const f3 = await r.next();
    t.check('raw: a frame sent one byte at a time', f3 && f3.opcode === 2 && f3.payload.toString() === 'dribble', JSON.stringify(f3));
    // Several frames in one write.
    r.sock.write(Buffer.concat([1, 2, 3].map((i) => encodeFrame({ opcode: 1, payload: Buffer.from(`m${i}`) }))));
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await r.next())?.payload.toString());
    t.eq('raw: three frames in one write', 'm1 m2 m3', got.join(' '));
    r.send({ opcode: 8, payload: Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('done')]) });
    const cf = await r.next();
    t.check('raw: close 1000 is answered with close 1000', cf && cf.opcode === 8 && cf.payload.readUInt16BE(0) === 1000, JSON.stringify(cf));
    await Promise.race([r.endPromise, sleep(10000)]);
    t.check('raw: the server closes TCP after the closing handshake', r.ended);

    r = await rawConnect(port, { headers: { 'Sec-WebSocket-Protocol': 'chat' } });
    t.check('raw: an unsupported subprotocol offer gets no Sec-WebSocket-Protocol', r.status === 101 &&
            !/sec-websocket-protocol/i.test(r.head), r.head);
    r.sock.destroy();
    r = await rawConnect(port, { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' } });
    t.check('raw: a deflate offer is accepted', /sec-websocket-extensions: *permessage-deflate/i.test(r.head), r.head);
    r.sock.destroy();
    r = await rawConnect(port, { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_max_window_bits=7' } });
    t.check('raw: an invalid deflate offer is declined, not refused', r.status === 101 &&
            !/sec-websocket-extensions/i.test(r.head), r.head);
    r.sock.destroy();
    r = await rawConnect(port, { omit: ['Sec-WebSocket-Key'] });
    t.eq('raw: a handshake with no key gets 400', 400, r.status);
    r.sock.destroy();
    r = await rawConnect(port, { version: '8' });
    t.check('raw: version 8 gets 426 with Sec-WebSocket-Version: 13', r.status === 426 &&
            /\r\nsec-websocket-version: *13/i.test(r.head), r.head);
    r.sock.destroy();
    // A connection cut in the middle of the handshake and of a frame.
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.write('GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websock');
    await sleep(20);
    s.destroy();
    r = await rawConnect(port);
    r.sock.write(encodeFrame({ opcode: 2, payload: randomBytes(1000) }).subarray(0, 500));
    await sleep(20);
    r.sock.destroy();
    const c = await connect(`ws://127.0.0.1:${port}/echo`);
    await echoCheck(c, 'raw: after cut connections, a new client', 'fine', false);
    await closeClient(c);
  });
}

// ---- part 2: tcws against `ws` servers -------------------------------------------------------------

async function tcwsTests() {
  const lines = ['one', 'two', 'héllo wörld ✓', 'three 😀', wordText(200000, 9).toString()];
  const input = lines.join('\n') + '\n';
  const variants = [
    ['no deflate', false, []],
    ['deflate offered, server declines', false, []],
    ['deflate', { threshold: 0 }, []],
    ['deflate, no context takeover both ways', { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true }, []],
    ['deflate, 9-bit windows', { threshold: 0, serverMaxWindowBits: 9, clientMaxWindowBits: 9 }, []],
    ['deflate, 8-bit windows', { threshold: 0, serverMaxWindowBits: 8, clientMaxWindowBits: 8 }, []],
    ['--no-deflate to a deflate server', { threshold: 0 }, ['--no-deflate']],
  ];
  for (const [name, pmd, extra] of variants) {
    await section(`tcws ${name}`, async () => {
      const s = await wsServer({ perMessageDeflate: pmd }, echoHandler);
      const args = name === 'no deflate' ? ['--no-deflate'] : extra;
      const r = await run(TCWS_BIN, [...args, '-n', String(lines.length), s.url('/')], { input, timeoutMs: 30000 });
      const out = r.stdout.toString();
      t.eq(`tcws ${name}: exit code`, 0, r.code);
      if (r.code !== 0) console.log(`#   ${describeRun(r)}`);
      t.check(`tcws ${name}: stdout is the echoed lines`, out === input,
              `got ${out.length} bytes, want ${input.length}; first line ${JSON.stringify(out.slice(0, 40))}`);
      const conn = s.conns[0];
      const wantExt = pmd && !extra.includes('--no-deflate') ? 'permessage-deflate' : '';
      t.eq(`tcws ${name}: negotiated extensions`, wantExt, conn && conn.extensions);
      const cl = conn && (await within(5000, conn.closed, 'server close'));
      t.eq(`tcws ${name}: the server sees close 1000`, 1000, cl && cl.code);
      t.check(`tcws ${name}: the server saw no protocol error`, !s.errors.length, String(s.errors[0]));
      await s.close();
    });
  }

  await section('tcws binary', async () => {
    const s = await wsServer({}, echoHandler);
    const r = await run(TCWS_BIN, ['-b', '-n', '2', s.url('/')], { input: 'bin one\nbin two\n' });
    t.eq('tcws -b: exit code', 0, r.code);
    t.eq('tcws -b: stdout', 'bin one\nbin two\n', r.stdout.toString());
    t.check('tcws -b: messages arrive as binary', s.conns[0]?.messages.every((m) => m.isBinary), '');
    await s.close();
  });

  await section('tcws many lines', async () => {
    const s = await wsServer({}, echoHandler);
    const many = Array.from({ length: 2000 }, (_, i) => `line ${i}`);
    const r = await run(TCWS_BIN, ['-n', '2000', s.url('/')], { input: many.join('\n') + '\n' });
    t.eq('tcws 2000 lines: exit code', 0, r.code);
    t.check('tcws 2000 lines: all echoed in order', r.stdout.toString() === many.join('\n') + '\n',
            `${r.stdout.toString().split('\n').length - 1} lines`);
    await s.close();
  });

  await section('tcws without -n', async () => {
    const s = await wsServer({}, echoHandler);
    const r = await run(TCWS_BIN, [s.url('/')], { input: 'a\n' });
    t.eq('tcws: stdin ends -> normal close, exit 0', 0, r.code);
    const cl = await within(5000, s.conns[0].closed, 'server close');
    t.eq('tcws: stdin ends -> server sees 1000', 1000, cl.code);
    await s.close();
  });

  // The server says something, then acts; tcws keeps stdin open throughout.
  const serverActs = async (name, act, wantExit, extraCheck) => {
    await section(`tcws ${name}`, async () => {
      const s = await wsServer({}, (ws, req, rec) => {
        ws.send('hello');
        setTimeout(() => act(ws, rec), 50);
      });
      const l = runLive(TCWS_BIN, [s.url('/')], { timeoutMs: 20000 });
      const r = await l.done;
      t.eq(`tcws ${name}: exit ${wantExit}`, wantExit, r.code);
      if (r.code !== wantExit) console.log(`#   ${describeRun(r)}`);
      t.check(`tcws ${name}: printed the message before`, r.stdout.toString().startsWith('hello\n'), JSON.stringify(r.stdout.toString()));
      if (extraCheck) await extraCheck(s, r);
      await s.close();
    });
  };
  await serverActs('server closes 1001', (ws) => ws.close(1001, 'going'), 0);
  await serverActs('server closes 1000', (ws) => ws.close(1000), 0);
  await serverActs('server closes without a code', (ws) => ws.close(), 0);
  await serverActs('server closes 4001', (ws) => ws.close(4001, 'app'), 3,
                   async (s, r) => t.check('tcws 4001: stderr names the code', /4001/.test(r.stderr), r.stderr));
  await serverActs('server sends invalid UTF-8', (ws) => ws.send(Buffer.from('cebaeda080', 'hex'), { binary: false }), 3,
                   async (s) => {
                     const cl = await within(10000, s.conns[0].closed, 'server close');
                     t.eq('tcws invalid UTF-8: the server sees close 1007', 1007, cl.code);
                   });
  await serverActs('server drops TCP', (ws) => ws.terminate(), 3);
  await serverActs('server sends a fragmented message, then a ping',
                   (ws, rec) => {
                     ws.send('frag', { fin: false });
                     ws.send('mented', { fin: true });
                     rec.pong = new Promise((r) => ws.once('pong', r));
                     ws.ping('are you there');
                     setTimeout(() => ws.close(1000), 200);
                   }, 0,
                   async (s, r) => {
                     t.eq('tcws: fragmented message printed whole', 'hello\nfragmented\n', r.stdout.toString());
                     const p = await within(5000, s.conns[0].pong, 'pong');
                     t.eq('tcws: pong carries the ping payload', 'are you there', p.toString());
                   });
  await serverActs('server sends 4 MiB', (ws) => {
    ws.send(Buffer.alloc(4 * MiB, 'q'), { binary: false });
    setTimeout(() => ws.close(1000), 300);
  }, 0, async (s, r) => t.check('tcws: 4 MiB message printed whole', r.stdout.length === 6 + 4 * MiB + 1 &&
                                 r.stdout.subarray(6, 6 + 4 * MiB).equals(Buffer.alloc(4 * MiB, 'q')), `${r.stdout.length} bytes`));
  await serverActs('server sends 16 MiB + 1', (ws) => ws.send(randomBytes(16 * MiB + 1)), 3, async (s) => {
    const cl = await within(10000, s.conns[0].closed, 'server close');
    t.eq('tcws over 16 MiB: the server sees close 1009', 1009, cl.code);
  });

  await section('tcws signals', async () => {
    for (const sig of ['SIGINT', 'SIGTERM']) {
      const s = await wsServer({}, (ws) => ws.send('hi'));
      const l = runLive(TCWS_BIN, [s.url('/')], { timeoutMs: 20000 });
      while (!s.conns.length) await sleep(20);
      await sleep(200);
      l.proc.kill(sig);
      const r = await l.done;
      t.eq(`tcws ${sig}: exit 0`, 0, r.code);
      const cl = await within(5000, s.conns[0].closed, 'server close');
      t.eq(`tcws ${sig}: the server sees close 1001`, 1001, cl.code);
      await s.close();
    }
  });

  await section('tcws subprotocol and headers', async () => {
    const s = await wsServer({ handleProtocols: (set) => (set.has('json') ? 'json' : false) }, echoHandler);
    const r = await run(TCWS_BIN, ['-s', 'chat', '-s', 'json', '-H', 'X-Tincan-Test: yes',
                                   '--origin', 'http://example.test', '-n', '1', s.url('/path?q=1')], { input: 'sub\n' });
    t.eq('tcws -s chat -s json: exit 0', 0, r.code);
    t.eq('tcws -s chat -s json: echo', 'sub\n', r.stdout.toString());
    t.check('tcws -s chat -s json: reports subprotocol json', /subprotocol json/.test(r.stderr), r.stderr);
    const c = s.conns[0];
    t.eq('tcws: the server saw the offer', 'chat, json', c?.req.headers['sec-websocket-protocol']);
    t.eq('tcws: the server picked json', 'json', c?.protocol);
    t.eq('tcws -H: header arrives', 'yes', c?.req.headers['x-tincan-test']);
    t.eq('tcws --origin: Origin arrives', 'http://example.test', c?.req.headers.origin);
    t.eq('tcws: path and query arrive', '/path?q=1', c?.req.url);
    t.eq('tcws: Host names the port', `127.0.0.1:${s.port}`, c?.req.headers.host);
    await s.close();
  });

  await section('tcws failed handshakes', async () => {
    // A server with one WebSocket path; everything else is 404.
    const hs = http.createServer((req, res) => res.writeHead(404).end());
    const wss = new WebSocketServer({ noServer: true });
    hs.on('upgrade', (req, sock, head) => {
      if (req.url !== '/ws') {
        sock.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, sock, head, (ws) => {
        ws.on('error', () => {});
        echoHandler(ws);
      });
    });
    await new Promise((r) => hs.listen(0, '127.0.0.1', r));
    const port = hs.address().port;
    let r = await run(TCWS_BIN, ['-n', '1', `ws://127.0.0.1:${port}/nope`], { input: 'x\n' });
    t.eq('tcws wrong path (404): exit 1', 1, r.code);
    t.check('tcws 404: says so', /404/.test(r.stderr), r.stderr);
    r = await run(TCWS_BIN, ['-n', '1', `ws://127.0.0.1:${port}/ws`], { input: 'x\n' });
    t.eq('tcws right path on the same server: exit 0', 0, r.code);
    await new Promise((res) => {
      for (const c of wss.clients) c.terminate();
      hs.close(res);
      hs.closeAllConnections();
    });
    r = await run(TCWS_BIN, [`ws://127.0.0.1:${port}/ws`], { input: 'x\n' });
    t.eq('tcws connection refused: exit 1', 1, r.code);
    r = await run(TCWS_BIN, ['http://127.0.0.1/'], { input: '' });
    t.eq('tcws not a ws URL: exit 2', 2, r.code);
    r = await run(TCWS_BIN, ['--bogus-option', 'ws://127.0.0.1/'], { input: '' });
    t.eq('tcws unknown option: exit 2', 2, r.code);

    // Raw servers with broken answers: tcws must refuse each (exit 1).
    const answers = [
      ['a wrong Sec-WebSocket-Accept', () => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n'],
      ['no Upgrade header', (acc) => `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acc}\r\n\r\n`],
      ['a subprotocol never offered', (acc) => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acc}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`],
      ['an extension never offered', (acc) => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acc}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`, ['--no-deflate']],
      ['an unknown extension', (acc) => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acc}\r\nSec-WebSocket-Extensions: x-webkit-deflate-frame\r\n\r\n`],
      ['a 200 instead of 101', () => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi'],
      ['a connection closed with no answer', null],
    ];
    for (const [name, answer, args = []] of answers) {
      const srv = net.createServer((sock) => {
        sock.on('error', () => {});
        let buf = '';
        sock.on('data', (d) => {
          buf += d.toString('latin1');
          if (!buf.includes('\r\n\r\n')) return;
          if (!answer) return sock.destroy();
          const key = /\r\nsec-websocket-key: *([^\r]*)/i.exec(buf)?.[1] || '';
          sock.write(answer(createHash('sha1').update(key + GUID).digest('base64')));
        });
      });
      await new Promise((res) => srv.listen(0, '127.0.0.1', res));
      r = await run(TCWS_BIN, [...args, `ws://127.0.0.1:${srv.address().port}/`], { input: null, timeoutMs: 20000 });
      t.eq(`tcws refuses a handshake with ${name}: exit 1`, 1, r.code);
      if (r.code !== 1) console.log(`#   ${describeRun(r)}`);
      await new Promise((res) => srv.close(res));
    }
  });
}

// ---- main ----------------------------------------------------------------------------------------

async function main() {
  const server = await startTincan();
  try {
    await clientTests(server);
    await rawTests(server);
    await section('server alive at the end', async () => {
      const c = await connect(`ws://127.0.0.1:${server.port}/echo`);
      await echoCheck(c, 'final client', 'bye', false);
      await closeClient(c);
    });
  } finally {
    await stopAndCheck(t, server);
  }
  await tcwsTests();
  checkChildSanitizers(t, 'tcws runs');
  t.summary();
}

main().catch((e) => {
  t.bad('unexpected error', e.stack);
  t.summary();
}).finally(() => setTimeout(() => process.exit(process.exitCode), 100));
