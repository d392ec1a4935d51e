// Engine.IO interop: tincan's Engine.IO server (tests/interop/eio_echo_server.c, an echo on
// /engine.io/ with pingInterval 300, pingTimeout 200, maxHttpBufferSize 1000000, CORS "*")
// against
//   - the engine.io-protocol test suite (test-suite/test-suite.js), ported case by case with the
//     same requests and the same expectations: raw HTTP with fetch, WebSocket with `ws`;
//   - engine.io-client in each transport mode: WebSocket only, polling only, polling then upgrade
//     (and WebSocket with forceBase64);
//   - raw checks of what the suite does not cover: every error code and body, CORS, size limits,
//     heartbeat timing, close reasons, upgrade edge cases, shared (broadcast) packets;
//   - a real Node engine.io server with the same options, compared side by side.
//
// Env: EIO_ECHO_SERVER (default build/tests/eio_echo_server), TINCAN_SRC; EIO_SHOW=1 prints both
// sides of each comparison with Node. Prints one line per check; exits non-zero on a failure.

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import http from 'node:http';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Socket as EioClient } from 'engine.io-client';
import { checklist, SRC, sleep, watchdog, within } from './lib.mjs';

const require = createRequire(join(SRC, 'node_modules', 'x.js'));
const engine = require('engine.io');

const BIN = process.env.EIO_ECHO_SERVER || join(SRC, 'build', 'tests', 'eio_echo_server');
const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
const SANITIZER_RE = /AddressSanitizer|LeakSanitizer|runtime error/;

const t = checklist();
watchdog(170000);

// ---- servers --------------------------------------------------------------------------------------

const children = new Set();
process.on('exit', () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });

// Starts eio_echo_server on a free port: {port, url, ws, log(), closeReason(sid), stop()}.
function startEcho(args = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, ['0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(proc);
    let log = '';
    const exited = new Promise((r) => proc.on('close', (code, signal) => r({ code, signal })));
    const timer = setTimeout(() => reject(new Error(`no "listening on" in 15 s: ${log}`)), 15000);
    proc.stderr.setEncoding('utf8');
    let started = false;
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m && !started) {
        started = true;
        clearTimeout(timer);
        const port = Number(m[1]);
        const srv = {
          port,
          url: `http://127.0.0.1:${port}`,
          ws: `ws://127.0.0.1:${port}`,
          log: () => log,
          // The reason on_close gave for sid, once it has been logged (null after ms).
          closeReason: async (sid, ms = 3000) => {
            const re = new RegExp(`^close ${sid.replace(/[-]/g, '\\-')} (.*)$`, 'm');
            const end = Date.now() + ms;
            for (;;) {
              const mm = re.exec(log);
              if (mm) return mm[1];
              if (Date.now() > end) return null;
              await sleep(10);
            }
          },
          stop: async () => {
            if (proc.exitCode === null) proc.kill('SIGTERM');
            const k = setTimeout(() => proc.kill('SIGKILL'), 10000);
            const r = await exited;
            clearTimeout(k);
            children.delete(proc);
            return r;
          },
        };
        resolve(srv);
      }
    });
    proc.on('error', reject);
    proc.on('exit', (code) => { if (!started) reject(new Error(`exited early (${code}): ${log}`)); });
  });
}

async function stopEcho(srv, label) {
  const r = await srv.stop();
  t.check(`${label}: exits 0 on SIGTERM`, r.code === 0, `code ${r.code} signal ${r.signal}: ${srv.log().slice(-1500)}`);
  const m = SANITIZER_RE.exec(srv.log());
  t.check(`${label}: no sanitizer report`, !m, m ? srv.log().slice(Math.max(0, m.index - 200), m.index + 3000) : '');
}

// A Node engine.io echo server with the same options, for side-by-side comparisons.
async function startNode(opts = {}) {
  const server = http.createServer();
  const eio = engine.attach(server, {
    pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, maxHttpBufferSize: 1e6, cors: { origin: '*' }, ...opts,
  });
  eio.on('connection', (s) => s.on('message', (d) => s.send(d)));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  return {
    port, url: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}`,
    stop: () => { eio.close(); server.closeAllConnections(); return new Promise((r) => server.close(r)); },
  };
}

// ---- helpers --------------------------------------------------------------------------------------

function waitFor(socket, eventType) {
  return new Promise((resolve) => socket.addEventListener(eventType, (e) => resolve(e), { once: true }));
}

// A WebSocket whose messages queue up, so none is missed between awaits.
function wsQueue(url, opts) {
  const ws = new WebSocket(url, opts);
  const q = { ws, msgs: [], waiters: [], closed: null, opened: null };
  q.opened = new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
  q.opened.catch(() => {});
  q.closed = new Promise((res) => ws.on('close', (code) => {
    for (const w of q.waiters.splice(0)) w(null);
    res(code);
  }));
  ws.on('message', (data, isBinary) => {
    const m = isBinary ? Buffer.from(data) : data.toString();
    const w = q.waiters.shift();
    if (w) w(m); else q.msgs.push(m);
  });
  q.next = (ms = 3000) => (q.msgs.length ? Promise.resolve(q.msgs.shift())
    : within(ms, new Promise((r) => q.waiters.push(r)), 'waiting for a WebSocket message'));
  return q;
}

// One HTTP request on its own connection: {status, headers, body (string), raw (Buffer)}.
function request(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: raw.toString('utf8'), raw });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const UPGRADE_HEADERS = {
  Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
};

function assertEq(got, expected, what = 'value') {
  const a = JSON.stringify(got), b = JSON.stringify(expected);
  if (a !== b) throw new Error(`${what}: expected ${b}, got ${a}`);
}
function assert(cond, what) {
  if (!cond) throw new Error(what);
}

async function it(name, fn, timeout = 2000) {
  try {
    await within(timeout, Promise.resolve().then(fn), name);
    t.ok(name);
  } catch (e) {
    t.bad(name, e && e.message ? e.message : String(e));
  }
}

async function openPolling(base) {
  const r = await fetch(`${base}/engine.io/?EIO=4&transport=polling`);
  const text = await r.text();
  return JSON.parse(text.substring(1)).sid;
}

// ---- the engine.io-protocol test suite, ported -------------------------------------------------------

async function protocolSuite(srv) {
  const URL = srv.url;
  const WS_URL = srv.ws;
  const P = 'suite: ';
  const initLongPollingSession = () => openPolling(URL);

  await it(P + 'handshake/polling: successfully opens a session', async () => {
    const response = await fetch(`${URL}/engine.io/?EIO=4&transport=polling`);
    assertEq(response.status, 200, 'status');
    const content = await response.text();
    assert(content.startsWith('0'), `content starts with 0: ${content}`);
    const value = JSON.parse(content.substring(1));
    assertEq(Object.keys(value).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades'], 'keys');
    assertEq(typeof value.sid, 'string', 'sid type');
    assertEq(value.upgrades, ['websocket'], 'upgrades');
    assertEq(value.pingInterval, PING_INTERVAL, 'pingInterval');
    assertEq(value.pingTimeout, PING_TIMEOUT, 'pingTimeout');
    assertEq(value.maxPayload, 1000000, 'maxPayload');
  });

  await it(P + "handshake/polling: fails with an invalid 'EIO' query parameter", async () => {
    assertEq((await fetch(`${URL}/engine.io/?transport=polling`)).status, 400, 'no EIO');
    assertEq((await fetch(`${URL}/engine.io/?EIO=abc&transport=polling`)).status, 400, 'EIO=abc');
  });

  await it(P + "handshake/polling: fails with an invalid 'transport' query parameter", async () => {
    assertEq((await fetch(`${URL}/engine.io/?EIO=4`)).status, 400, 'no transport');
    assertEq((await fetch(`${URL}/engine.io/?EIO=4&transport=abc`)).status, 400, 'transport=abc');
  });

  await it(P + 'handshake/polling: fails with an invalid request method', async () => {
    assertEq((await fetch(`${URL}/engine.io/?EIO=4&transport=polling`, { method: 'post' })).status, 400, 'post');
    assertEq((await fetch(`${URL}/engine.io/?EIO=4&transport=polling`, { method: 'put' })).status, 400, 'put');
  });

  await it(P + 'handshake/websocket: successfully opens a session', async () => {
    const socket = new WebSocket(`${WS_URL}/engine.io/?EIO=4&transport=websocket`);
    const { data } = await waitFor(socket, 'message');
    assert(data.startsWith('0'), 'starts with 0');
    const value = JSON.parse(data.substring(1));
    assertEq(Object.keys(value).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades'], 'keys');
    assertEq(typeof value.sid, 'string', 'sid type');
    assertEq(value.upgrades, [], 'upgrades');
    assertEq(value.pingInterval, PING_INTERVAL, 'pingInterval');
    assertEq(value.pingTimeout, PING_TIMEOUT, 'pingTimeout');
    assertEq(value.maxPayload, 1000000, 'maxPayload');
    socket.close();
  });

  await it(P + "handshake/websocket: fails with an invalid 'EIO' query parameter", async () => {
    const socket = new WebSocket(`${WS_URL}/engine.io/?transport=websocket`);
    socket.on('error', () => {});
    const c1 = waitFor(socket, 'close');
    const socket2 = new WebSocket(`${WS_URL}/engine.io/?EIO=abc&transport=websocket`);
    socket2.on('error', () => {});
    const c2 = waitFor(socket2, 'close');
    await Promise.all([c1, c2]);
  });

  await it(P + "handshake/websocket: fails with an invalid 'transport' query parameter", async () => {
    const socket = new WebSocket(`${WS_URL}/engine.io/?EIO=4`);
    socket.on('error', () => {});
    const c1 = waitFor(socket, 'close');
    const socket2 = new WebSocket(`${WS_URL}/engine.io/?EIO=4&transport=abc`);
    socket2.on('error', () => {});
    const c2 = waitFor(socket2, 'close');
    await Promise.all([c1, c2]);
  });

  const pushPoll = async (sid, body) => {
    const push = await fetch(`${URL}/engine.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'post', body });
    assertEq(push.status, 200, 'POST status');
    assertEq(await push.text(), 'ok', 'POST body');
    const poll = await fetch(`${URL}/engine.io/?EIO=4&transport=polling&sid=${sid}`);
    assertEq(poll.status, 200, 'GET status');
    return poll.text();
  };

  await it(P + 'message/polling: sends and receives a payload containing one plain text packet', async () => {
    assertEq(await pushPoll(await initLongPollingSession(), '4hello'), '4hello', 'poll content');
  });

  await it(P + 'message/polling: sends and receives a payload containing several plain text packets', async () => {
    const body = '4test1\x1e4test2\x1e4test3';
    assertEq(await pushPoll(await initLongPollingSession(), body), body, 'poll content');
  });

  await it(P + 'message/polling: sends and receives a payload containing plain text and binary packets', async () => {
    const body = '4hello\x1ebAQIDBA==';
    assertEq(await pushPoll(await initLongPollingSession(), body), body, 'poll content');
  });

  await it(P + 'message/polling: closes the session upon invalid packet format', async () => {
    const sid = await initLongPollingSession();
    try {
      const pushResponse = await fetch(`${URL}/engine.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'post', body: 'abc' });
      assertEq(pushResponse.status, 400, 'POST status');
    } catch (e) {
      if (!/fetch failed|socket/.test(String(e))) throw e;
    }
    assertEq((await fetch(`${URL}/engine.io/?EIO=4&transport=polling&sid=${sid}`)).status, 400, 'GET status');
  });

  await it(P + 'message/polling: closes the session upon duplicate poll requests', async () => {
    const sid = await initLongPollingSession();
    const pollResponses = await Promise.all([
      fetch(`${URL}/engine.io/?EIO=4&transport=polling&sid=${sid}`),
      sleep(5).then(() => fetch(`${URL}/engine.io/?EIO=4&transport=polling&sid=${sid}&t=burst`)),
    ]);
    assertEq(pollResponses[0].status, 200, 'first GET status');
    assertEq(await pollResponses[0].text(), '1', 'first GET content');
    assert([400, 500].includes(pollResponses[1].status), `second GET status ${pollResponses[1].status}`);
    assertEq((await fetch(`${URL}/engine.io/?EIO=4&transport=polling&sid=${sid}`)).status, 400, 'third GET');
  });

  await it(P + 'message/websocket: sends and receives a plain text packet', async () => {
    const socket = new WebSocket(`${WS_URL}/engine.io/?EIO=4&transport=websocket`);
    await waitFor(socket, 'open');
    await waitFor(socket, 'message');
    socket.send('4hello');
    const { data } = await waitFor(socket, 'message');
    assertEq(data, '4hello', 'echo');
    socket.close();
  });

  await it(P + 'message/websocket: sends and receives a binary packet', async () => {
    const socket = new WebSocket(`${WS_URL}/engine.io/?EIO=4&transport=websocket`);
    socket.binaryType = 'arraybuffer';
    await waitFor(socket, 'message');
    socket.send(Uint8Array.from([1, 2, 3, 4]));
    const { data } = await waitFor(socket, 'message');
    assert(data instanceof ArrayBuffer, 'an ArrayBuffer');
    assertEq([...new Uint8Array(data)], [1, 2, 3, 4], 'bytes');
    socket.close();
  });

  await it(P + 'message/websocket: closes the session upon invalid packet format', async () => {
    const socket = new WebSocket(`${WS_URL}/engine.io/?EIO=4&transport=websocket`);
    await waitFor(socket, 'message');
    socket.send('abc');
    await waitFor(socket, 'close');
    socket.close();
  });

  await it(P + 'heartbeat/polling: sends ping/pong packets', async () => {
    const sid = await initLongPollingSession();
    for (let i = 0; i < 3; i++) {
      const pollResponse = await fetch(`${URL}/engine.io/?EIO=4&transport=polling&sid=${sid}`);
      assertEq(pollResponse.status, 200, 'GET status');
      assertEq(await pollResponse.text(), '2', 'GET content');
      const pushResponse = await fetch(`${URL}/engine.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'post', body: '3' });
      assertEq(pushResponse.status, 200, 'POST status');
    }
  }, 5000);

  await it(P + 'heartbeat/polling: closes the session upon ping timeout', async () => {
    const sid = await initLongPollingSession();
    await sleep(PING_INTERVAL + PING_TIMEOUT);
    const pollResponse = await fetch(`${URL}/engine.io/?EIO=4&transport=polling&sid=${sid}`);
    assertEq(pollResponse.status, 400, 'GET status');
  }, 5000);

  await it(P + 'heartbeat/websocket: sends ping/pong packets', async () => {
    const socket = new WebSocket(`${WS_URL}/engine.io/?EIO=4&transport=websocket`);
    await waitFor(socket, 'message');
    for (let i = 0; i < 3; i++) {
      const { data } = await waitFor(socket, 'message');
      assertEq(data, '2', 'ping');
      socket.send('3');
    }
    socket.close();
  }, 5000);

  await it(P + 'heartbeat/websocket: closes the session upon ping timeout', async () => {
    const socket = new WebSocket(`${WS_URL}/engine.io/?EIO=4&transport=websocket`);
    await waitFor(socket, 'close');
  }, 5000);

  await it(P + 'close/polling: forcefully closes the session', async () => {
    const sid = await initLongPollingSession();
    const [pollResponse] = await Promise.all([
      fetch(`${URL}/engine.io/?EIO=4&transport=polling&sid=${sid}`),
      fetch(`${URL}/engine.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'post', body: '1' }),
    ]);
    assertEq(pollResponse.status, 200, 'GET status');
    assertEq(await pollResponse.text(), '6', 'GET content');
    assertEq((await fetch(`${URL}/engine.io/?EIO=4&transport=polling&sid=${sid}`)).status, 400, 'next GET');
  });

  await it(P + 'close/websocket: forcefully closes the session', async () => {
    const socket = new WebSocket(`${WS_URL}/engine.io/?EIO=4&transport=websocket`);
    await waitFor(socket, 'message');
    socket.send('1');
    await waitFor(socket, 'close');
  });

  await it(P + 'upgrade: successfully upgrades from HTTP long-polling to WebSocket', async () => {
    const sid = await initLongPollingSession();
    const socket = new WebSocket(`${WS_URL}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    await waitFor(socket, 'open');
    socket.send('2probe');
    const probeResponse = await waitFor(socket, 'message');
    assertEq(probeResponse.data, '3probe', 'probe answer');
    const pollResponse = await fetch(`${URL}/engine.io/?EIO=4&transport=polling&sid=${sid}`);
    assertEq(pollResponse.status, 200, 'GET status');
    assertEq(await pollResponse.text(), '6', 'GET content');
    socket.send('5');
    socket.send('4hello');
    const { data } = await waitFor(socket, 'message');
    assertEq(data, '4hello', 'echo');
    socket.close();
  });

  await it(P + 'upgrade: ignores HTTP requests with same sid after upgrade', async () => {
    const sid = await initLongPollingSession();
    const socket = new WebSocket(`${WS_URL}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    await waitFor(socket, 'open');
    socket.send('2probe');
    socket.send('5');
    const pollResponse = await fetch(`${URL}/engine.io/?EIO=4&transport=polling&sid=${sid}`);
    assertEq(pollResponse.status, 400, 'GET status');
    socket.send('4hello');
    const { data } = await waitFor(socket, 'message');
    assertEq(data, '4hello', 'echo');
    socket.close();
  });

  await it(P + 'upgrade: ignores WebSocket connection with same sid after upgrade', async () => {
    const sid = await initLongPollingSession();
    const socket = new WebSocket(`${WS_URL}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    await waitFor(socket, 'open');
    socket.send('2probe');
    socket.send('5');
    const socket2 = new WebSocket(`${WS_URL}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    await waitFor(socket2, 'close');
    socket.send('4hello');
    const { data } = await waitFor(socket, 'message');
    assertEq(data, '4hello', 'echo');
    socket.close();
  });
}

// ---- engine.io-client ------------------------------------------------------------------------------

function eioClient(srv, opts) {
  const s = new EioClient(srv.url, { path: '/engine.io', ...opts });
  const c = { s, msgs: [], waiters: [], upgraded: false };
  c.opened = new Promise((res, rej) => { s.on('open', res); s.on('error', rej); });
  c.closed = new Promise((res) => s.on('close', (reason) => res(reason)));
  s.on('upgrade', () => { c.upgraded = true; });
  s.on('message', (m) => {
    const w = c.waiters.shift();
    if (w) w(m); else c.msgs.push(m);
  });
  c.next = (ms = 5000) => (c.msgs.length ? Promise.resolve(c.msgs.shift())
    : within(ms, new Promise((r) => c.waiters.push(r)), 'waiting for a client message'));
  return c;
}

function sameMessage(a, b) {
  // An empty message is a packet without data, which engine.io-client reports as undefined.
  if (b === '') return a === '' || a === undefined;
  if (typeof b === 'string') return a === b;
  const x = Buffer.from(a instanceof ArrayBuffer ? new Uint8Array(a) : a);
  return Buffer.isBuffer(x) && x.equals(Buffer.from(b));
}

async function clientSuite(srv) {
  const big = 'x'.repeat(200000);
  const uni = 'héllo wörld ✓ 😀 \u2028';
  const bin = Buffer.from([0, 1, 2, 253, 254, 255]);
  const modes = [
    ['websocket only', { transports: ['websocket'] }, 'websocket'],
    ['polling only', { transports: ['polling'] }, 'polling'],
    ['polling then upgrade', { transports: ['polling', 'websocket'] }, 'websocket'],
    ['websocket with forceBase64', { transports: ['websocket'], forceBase64: true }, 'websocket'],
  ];
  for (const [name, opts, finalTransport] of modes) {
    await it(`engine.io-client ${name}: echo of text, unicode, binary, large, in order`, async () => {
      const c = eioClient(srv, opts);
      await c.opened;
      const sid = c.s.id;
      assert(/^[A-Za-z0-9_-]{20}$/.test(sid), `sid ${sid} is 20 base64url characters`);
      // Sent at once, before any upgrade: they must all come back, in order, across it.
      const sent = [];
      for (let i = 0; i < 30; i++) sent.push(`m${i}`);
      sent.push(uni, bin, big, '');
      for (const m of sent) c.s.send(m);
      for (let i = 0; i < sent.length; i++) {
        const m = await c.next();
        assert(sameMessage(m, sent[i]), `message ${i}: ${String(m).slice(0, 40)} vs ${String(sent[i]).slice(0, 40)}`);
      }
      if (finalTransport === 'websocket' && opts.transports.length > 1) {
        for (let i = 0; i < 100 && !c.upgraded; i++) await sleep(20);
        assert(c.upgraded, 'upgraded');
      }
      assertEq(c.s.transport.name, finalTransport, 'transport');
      // The server sends many at once (a burst), and a binary message it builds itself.
      c.s.send('__burst 50');
      for (let i = 0; i < 50; i++) assertEq(await c.next(), `burst ${i}`, `burst ${i}`);
      c.s.send('__binary 300');
      const b = await c.next();
      const expect = Buffer.alloc(300);
      for (let i = 0; i < 300; i++) expect[i] = i & 255;
      assert(sameMessage(b, expect), 'shared binary message');
      // Heartbeats keep it open past several intervals.
      await sleep(3 * PING_INTERVAL);
      c.s.send('still');
      assertEq(await c.next(), 'still', 'echo after heartbeats');
      c.s.close();
      assertEq(await srv.closeReason(sid), 'transport close', 'server close reason');
    }, 20000);
  }

  await it('engine.io-client polling then upgrade: messages sent during the upgrade arrive in order', async () => {
    const c = eioClient(srv, { transports: ['polling', 'websocket'] });
    await c.opened;
    c.s.send('__burst 200');
    let i = 0;
    const iv = setInterval(() => c.s.send(`c${i++}`), 2);
    for (let k = 0; k < 200; k++) assertEq(await c.next(), `burst ${k}`, `burst ${k}`);
    for (let k = 0; k < 100 && !c.upgraded; k++) await sleep(20);
    clearInterval(iv);
    for (let k = 0; k < i; k++) assertEq(await c.next(), `c${k}`, `client message ${k}`);
    assert(c.upgraded, 'upgraded');
    c.s.close();
  }, 15000);

  await it('engine.io-client: the server closes the session (forced close)', async () => {
    for (const transports of [['websocket'], ['polling']]) {
      const c = eioClient(srv, { transports });
      await c.opened;
      const sid = c.s.id;
      c.s.send('__close');
      const reason = await within(3000, c.closed, 'client close');
      assert(/transport close|forced close/.test(reason), `client reason ${reason}`);
      assertEq(await srv.closeReason(sid), 'forced close', `${transports} server reason`);
    }
  }, 10000);
}

// ---- raw checks ------------------------------------------------------------------------------------

async function rawSuite(srv) {
  const U = `${srv.url}/engine.io/`;
  const W = `${srv.ws}/engine.io/`;
  const err = (code, message) => JSON.stringify({ code, message });

  await it('errors: every code with Node\'s status, JSON body and Content-Type', async () => {
    const cases = [
      [`${U}?EIO=4&transport=abc`, 'GET', 400, err(0, 'Transport unknown')],
      [`${U}?EIO=4&transport=polling&sid=nope`, 'GET', 400, err(1, 'Session ID unknown')],
      [`${U}?EIO=4&transport=polling`, 'POST', 400, err(2, 'Bad handshake method')],
      [`${U}?EIO=4&transport=websocket`, 'GET', 400, err(3, 'Bad request')],
      [`${U}?EIO=3&transport=polling`, 'GET', 400, err(5, 'Unsupported protocol version')],
      [`${U}?transport=polling`, 'GET', 400, err(5, 'Unsupported protocol version')],
    ];
    for (const [url, method, status, body] of cases) {
      const r = await request(url, { method });
      assertEq([r.status, r.body, r.headers['content-type']], [status, body, 'application/json'], `${method} ${url}`);
    }
  });

  await it('errors: a sid request with another EIO or the wrong transport is a bad request', async () => {
    const sid = await openPolling(srv.url);
    const r1 = await request(`${U}?EIO=3&transport=polling&sid=${sid}`);
    assertEq([r1.status, r1.body], [400, err(3, 'Bad request')], 'EIO=3');
    const r2 = await request(`${U}?EIO=4&transport=websocket&sid=${sid}`);
    assertEq([r2.status, r2.body], [400, err(3, 'Bad request')], 'websocket without upgrade');
    const r3 = await request(`${U}?EIO=4&transport=polling&sid=${sid}`, { method: 'PUT' });
    assertEq(r3.status, 500, 'PUT on a session');
  });

  await it('errors: refused upgrades are a bare 400 with the message as text/html, then close', async () => {
    for (const [q, msg] of [['EIO=4&transport=websocket&sid=nope', 'Session ID unknown'],
                            ['EIO=4&transport=abc', 'Transport unknown'],
                            ['EIO=3&transport=websocket', 'Unsupported protocol version']]) {
      const r = await request(`${U}?${q}`, { headers: UPGRADE_HEADERS });
      assertEq([r.status, r.body, r.headers['content-type'], r.headers.connection], [400, msg, 'text/html', 'close'], q);
    }
  });

  await it('heartbeat over WebSocket: ping on time, close on time when no pong ("ping timeout")', async () => {
    const q = wsQueue(`${W}?EIO=4&transport=websocket`);
    const t0 = Date.now();
    const open = JSON.parse((await q.next()).slice(1));
    assertEq(await q.next(), '2', 'ping');
    const tPing = Date.now() - t0;
    const code = await within(2000, q.closed, 'close');
    const tClose = Date.now() - t0;
    assert(tPing >= PING_INTERVAL - 15 && tPing <= PING_INTERVAL + 120, `ping after ${tPing} ms`);
    assert(tClose >= PING_INTERVAL + PING_TIMEOUT - 15 && tClose <= PING_INTERVAL + PING_TIMEOUT + 150, `closed after ${tClose} ms`);
    assertEq(code, 1005, 'close code (a close frame without a code, as Node)');
    assertEq(await srv.closeReason(open.sid), 'ping timeout', 'reason');
  }, 3000);

  await it('heartbeat: a packet while a pong is awaited extends the wait once', async () => {
    const q = wsQueue(`${W}?EIO=4&transport=websocket`);
    await q.next();
    assertEq(await q.next(), '2', 'ping');
    const tPing = Date.now();
    await sleep(150);
    q.ws.send('4x');
    assertEq(await q.next(), '4x', 'echo');
    await within(2000, q.closed, 'close');
    const after = Date.now() - tPing;
    assert(after >= 150 + PING_TIMEOUT - 15 && after <= 150 + PING_TIMEOUT + 150, `closed ${after} ms after the ping`);
  }, 3000);

  await it('heartbeat: the next ping comes a full interval after the pong', async () => {
    const q = wsQueue(`${W}?EIO=4&transport=websocket`);
    await q.next();
    assertEq(await q.next(), '2', 'first ping');
    await sleep(100);
    q.ws.send('3');
    const tPong = Date.now();
    assertEq(await q.next(), '2', 'second ping');
    const gap = Date.now() - tPong;
    assert(gap >= PING_INTERVAL - 15 && gap <= PING_INTERVAL + 120, `second ping ${gap} ms after the pong`);
    q.ws.close();
  }, 3000);

  await it('close reasons: client close packet, parse error, client ping, transport close', async () => {
    const cases = [['1', 'transport close'], ['abc', 'parse error'], ['2', 'transport error'], [null, 'transport close']];
    for (const [send, reason] of cases) {
      const q = wsQueue(`${W}?EIO=4&transport=websocket`);
      const sid = JSON.parse((await q.next()).slice(1)).sid;
      const t0 = Date.now();
      if (send === null) q.ws.close(); else q.ws.send(send);
      await within(2000, q.closed, 'close');
      assert(Date.now() - t0 < 150, `closed promptly (${Date.now() - t0} ms)`);
      assertEq(await srv.closeReason(sid), reason, `after ${send}`);
    }
  });

  await it('limits: a POST over maxHttpBufferSize gets 413 and the session stays', async () => {
    const sid = await openPolling(srv.url);
    const r = await request(`${U}?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '4' + 'x'.repeat(1000000) });
    assertEq([r.status, r.body], [413, ''], '413');
    const ok = await request(`${U}?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '4' + 'y'.repeat(999999) });
    assertEq([ok.status, ok.body, ok.headers['content-type'], ok.headers['cache-control']],
             [200, 'ok', 'text/html', 'no-store'], 'a POST of exactly maxHttpBufferSize');
    const g = await request(`${U}?EIO=4&transport=polling&sid=${sid}`);
    assertEq([g.status, g.body.length, g.headers['content-type'], g.headers['cache-control']],
             [200, 1000000, 'text/plain; charset=UTF-8', 'no-store'], 'echo');
  }, 5000);

  await it('limits: a WebSocket message over maxHttpBufferSize closes with 1009 ("transport error")', async () => {
    const q = wsQueue(`${W}?EIO=4&transport=websocket`);
    const sid = JSON.parse((await q.next()).slice(1)).sid;
    q.ws.send('4' + 'x'.repeat(999999));
    assertEq((await q.next()).length, 1000000, 'a message of exactly the limit');
    q.ws.send('4' + 'x'.repeat(1000000));
    assertEq(await within(2000, q.closed, 'close'), 1009, 'close code');
    assertEq(await srv.closeReason(sid), 'transport error', 'reason');
  }, 5000);

  await it('polling: overlapping GETs close the session ("transport error")', async () => {
    const sid = await openPolling(srv.url);
    const first = request(`${U}?EIO=4&transport=polling&sid=${sid}`);
    await sleep(30);
    const second = await request(`${U}?EIO=4&transport=polling&sid=${sid}`);
    assertEq([second.status, second.body], [400, ''], 'second GET');
    assertEq((await first).body, '1', 'first GET gets the close packet');
    assertEq(await srv.closeReason(sid), 'transport error', 'reason');
  });

  await it('polling: a binary (octet-stream) POST is refused and closes the session', async () => {
    const sid = await openPolling(srv.url);
    const r = await request(`${U}?EIO=4&transport=polling&sid=${sid}`,
                            { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: '4x' });
    assertEq(r.status, 400, 'status');
    assertEq(await srv.closeReason(sid), 'transport error', 'reason');
  });

  await it('polling: bad UTF-8 reads as U+FFFD, base64 is read leniently, as Node', async () => {
    const sid = await openPolling(srv.url);
    const body = Buffer.concat([Buffer.from('4a'), Buffer.from([0xff, 0xe2, 0x82]), Buffer.from('b\x1ebAQ ID-_\x1eb')]);
    const r = await request(`${U}?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body });
    assertEq(r.status, 200, 'POST');
    const g = await request(`${U}?EIO=4&transport=polling&sid=${sid}`);
    assertEq(g.body, '4a\ufffd\ufffdb\x1ebAQID+w==\x1eb', 'echo');
  });

  await it('polling: packets queued while no GET waits come in one answer; a waiting GET is answered at once', async () => {
    const sid = await openPolling(srv.url);
    await request(`${U}?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '4a\x1e4b\x1e__burst 2'.replace('__', '4__') });
    assertEq((await request(`${U}?EIO=4&transport=polling&sid=${sid}`)).body, '4a\x1e4b\x1e4burst 0\x1e4burst 1', 'queued');
    const waiting = request(`${U}?EIO=4&transport=polling&sid=${sid}`);
    await sleep(30);
    await request(`${U}?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '4c\x1e4d' });
    assertEq((await waiting).body, '4c\x1e4d', 'one answer for one POST');
  });

  await it('polling: the server closes with packets queued: they go first, then "6\\x1e1"', async () => {
    const sid = await openPolling(srv.url);
    await request(`${U}?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '4__burst 2\x1e4__close' });
    assertEq((await request(`${U}?EIO=4&transport=polling&sid=${sid}`)).body, '4burst 0\x1e4burst 1', 'queued packets');
    assertEq((await request(`${U}?EIO=4&transport=polling&sid=${sid}`)).body, '6\x1e1', 'then the close');
    assertEq(await srv.closeReason(sid), 'forced close', 'reason');
    assertEq((await request(`${U}?EIO=4&transport=polling&sid=${sid}`)).status, 400, 'gone');
  });

  await it('upgrade: packets queued for polling go over the WebSocket after "5", in order', async () => {
    const sid = await openPolling(srv.url);
    const q = wsQueue(`${W}?EIO=4&transport=websocket&sid=${sid}`);
    await q.opened;
    q.ws.send('2probe');
    assertEq(await q.next(), '3probe', 'probe');
    await request(`${U}?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '4__burst 5' });
    q.ws.send('5');
    for (let i = 0; i < 5; i++) assertEq(await q.next(), `4burst ${i}`, `burst ${i}`);
    q.ws.send('4after');
    assertEq(await q.next(), '4after', 'echo over the WebSocket');
    q.ws.close();
  });

  await it('upgrade: a GET waiting at the probe is ended with a noop at once; one waiting at "5" gets "1"', async () => {
    const sid = await openPolling(srv.url);
    const q = wsQueue(`${W}?EIO=4&transport=websocket&sid=${sid}`);
    await q.opened;
    const waiting = request(`${U}?EIO=4&transport=polling&sid=${sid}`);
    await sleep(30);
    const t0 = Date.now();
    q.ws.send('2probe');
    assertEq((await waiting).body, '6', 'noop');
    assert(Date.now() - t0 < 80, `noop after ${Date.now() - t0} ms`);
    const again = request(`${U}?EIO=4&transport=polling&sid=${sid}`);
    await sleep(30);
    q.ws.send('5');
    const r = await again;
    assert(r.body === '1' || r.body === '6', `GET at the upgrade: ${r.body}`);
    q.ws.close();
  });

  await it('upgrade: a probe that never sends "5" is closed after upgradeTimeout; polling goes on', async () => {
    const s2 = await startEcho(['--upgrade-timeout', '300', '--ping-interval', '5000', '--ping-timeout', '5000']);
    try {
      const sid = await openPolling(s2.url);
      const q = wsQueue(`${s2.ws}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
      await q.opened;
      const t0 = Date.now();
      q.ws.send('2probe');
      assertEq(await q.next(), '3probe', 'probe');
      await within(2000, q.closed, 'probe closed');
      const dt = Date.now() - t0;
      assert(dt >= 250 && dt <= 500, `probe closed after ${dt} ms`);
      await request(`${s2.url}/engine.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '4still' });
      assertEq((await request(`${s2.url}/engine.io/?EIO=4&transport=polling&sid=${sid}`)).body, '4still', 'polling works');
      // A second upgrade attempt is allowed after the first one failed.
      const q2 = wsQueue(`${s2.ws}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
      await q2.opened;
      q2.ws.send('2probe');
      assertEq(await q2.next(), '3probe', 'second probe');
      q2.ws.send('5');
      q2.ws.send('4ws');
      assertEq(await q2.next(), '4ws', 'upgraded');
      q2.ws.close();
    } finally {
      await stopEcho(s2, 'upgrade-timeout server');
    }
  }, 8000);

  await it('upgrade: anything but the probe or "5" on the probe WebSocket ends the attempt', async () => {
    const sid = await openPolling(srv.url);
    const q = wsQueue(`${W}?EIO=4&transport=websocket&sid=${sid}`);
    await q.opened;
    q.ws.send('4early');
    await within(2000, q.closed, 'probe closed');
    const r = await request(`${U}?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '4x' });
    assertEq(r.status, 200, 'session still there');
  });

  await it('upgrade: a WebSocket for a session already on WebSocket, or a second probe, is closed', async () => {
    const q = wsQueue(`${W}?EIO=4&transport=websocket`);
    const sid = JSON.parse((await q.next()).slice(1)).sid;
    const dup = wsQueue(`${W}?EIO=4&transport=websocket&sid=${sid}`);
    await within(2000, dup.closed, 'duplicate closed');
    q.ws.send('4x');
    assertEq(await q.next(), '4x', 'first one still works');
    q.ws.close();
    const sid2 = await openPolling(srv.url);
    const p1 = wsQueue(`${W}?EIO=4&transport=websocket&sid=${sid2}`);
    await p1.opened;
    const p2 = wsQueue(`${W}?EIO=4&transport=websocket&sid=${sid2}`);
    await within(2000, p2.closed, 'second probe closed');
    p1.ws.send('2probe');
    assertEq(await p1.next(), '3probe', 'first probe still works');
    p1.ws.close();
  });

  await it('shared packets: one broadcast reaches WebSocket, polling and base64 WebSocket sessions', async () => {
    const a = wsQueue(`${W}?EIO=4&transport=websocket`);
    await a.next();
    const b = wsQueue(`${W}?EIO=4&transport=websocket&b64=1`);
    await b.next();
    const sid = await openPolling(srv.url);
    a.ws.send('4__broadcast héllo ✓');
    assertEq(await a.next(), '4héllo ✓', 'WebSocket');
    assertEq(await b.next(), '4héllo ✓', 'base64 WebSocket');
    assertEq((await request(`${U}?EIO=4&transport=polling&sid=${sid}`)).body, '4héllo ✓', 'polling');
    b.ws.send('4__binary 5');
    assertEq(await b.next(), 'bAAECAwQ=', 'binary as base64 text over WebSocket with b64=1');
    b.ws.send('bAQIDBA==');
    assertEq(await b.next(), 'bAQIDBA==', 'a base64 text frame is a binary message');
    a.ws.send('4__binary 5');
    const m = await a.next();
    assert(Buffer.isBuffer(m) && m.equals(Buffer.from([0, 1, 2, 3, 4])), 'binary frame');
    a.ws.close();
    b.ws.close();
  });

  await it('handshake: sids are 20 base64url characters and distinct', async () => {
    const sids = new Set();
    for (let i = 0; i < 20; i++) {
      const sid = await openPolling(srv.url);
      assert(/^[A-Za-z0-9_-]{20}$/.test(sid), `sid ${sid}`);
      sids.add(sid);
    }
    assertEq(sids.size, 20, 'distinct');
  });
}

// ---- CORS and allowRequest, and the side-by-side comparison with Node --------------------------------

function pick(r, names) {
  const o = { status: r.status };
  for (const n of names) if (r.headers[n] !== undefined) o[n] = r.headers[n];
  return o;
}

const normalize = (s) => s.replace(/"sid":"[^"]+"/, '"sid":"SID"');

async function compareSuite(tc, node, label) {
  const CORS = ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods',
                'access-control-allow-headers', 'vary', 'content-type', 'cache-control', 'content-length'];
  const cases = [
    ['handshake', async (u) => request(`${u}/engine.io/?EIO=4&transport=polling`, { headers: { Origin: 'http://a.example' } })],
    ['handshake from another origin', async (u) => request(`${u}/engine.io/?EIO=4&transport=polling`, { headers: { Origin: 'http://c.example' } })],
    ['preflight', async (u) => request(`${u}/engine.io/?EIO=4&transport=polling`,
      { method: 'OPTIONS', headers: { Origin: 'http://a.example', 'Access-Control-Request-Headers': 'content-type, x-y' } })],
    ['preflight without request headers', async (u) => request(`${u}/engine.io/?EIO=4&transport=polling`,
      { method: 'OPTIONS', headers: { Origin: 'http://b.example' } })],
    ['unknown transport', async (u) => request(`${u}/engine.io/?EIO=4&transport=abc`, { headers: { Origin: 'http://a.example' } })],
    ['unknown sid', async (u) => request(`${u}/engine.io/?EIO=4&transport=polling&sid=x`)],
    ['bad handshake method', async (u) => request(`${u}/engine.io/?EIO=4&transport=polling`, { method: 'POST', body: '4x' })],
    ['bad request', async (u) => request(`${u}/engine.io/?EIO=4&transport=websocket`)],
    ['unsupported version', async (u) => request(`${u}/engine.io/?EIO=3&transport=polling`)],
    ['forbidden', async (u) => request(`${u}/engine.io/?EIO=4&transport=polling`, { headers: { 'x-deny': '1', Origin: 'http://a.example' } })],
    ['forbidden upgrade', async (u) => request(`${u}/engine.io/?EIO=4&transport=websocket`, { headers: { ...UPGRADE_HEADERS, 'x-deny': '1' } })],
    ['POST, GET and 413', async (u) => {
      const h = await request(`${u}/engine.io/?EIO=4&transport=polling`);
      const sid = JSON.parse(h.body.slice(1)).sid;
      const p = await request(`${u}/engine.io/?EIO=4&transport=polling&sid=${sid}`,
                              { method: 'POST', body: '4a\x1ebAQID\x1e4\u00e9', headers: { Origin: 'http://a.example' } });
      const g = await request(`${u}/engine.io/?EIO=4&transport=polling&sid=${sid}`, { headers: { Origin: 'http://b.example' } });
      const big = await request(`${u}/engine.io/?EIO=4&transport=polling&sid=${sid}`,
                                { method: 'POST', body: '4' + 'x'.repeat(1000), headers: { Origin: 'http://a.example' } });
      const g2 = await request(`${u}/engine.io/?EIO=4&transport=polling&sid=${sid}`);
      return { status: p.status, headers: {}, body: JSON.stringify([pick(p, CORS), p.body, pick(g, CORS), g.body, big.status, g2.body]) };
    }],
  ];
  for (const [name, fn] of cases) {
    await it(`same as Node engine.io (${label}): ${name}`, async () => {
      const [a, b] = [await fn(tc.url), await fn(node.url)];
      const ka = { ...pick(a, CORS), body: normalize(a.body) };
      const kb = { ...pick(b, CORS), body: normalize(b.body) };
      // Node sends small bodies chunked; compare lengths only where it gave one.
      if (kb['content-length'] === undefined) delete ka['content-length'];
      if (ka['content-length'] === undefined) delete kb['content-length'];
      if (process.env.EIO_SHOW) console.log(JSON.stringify(ka), JSON.stringify(kb));
      assertEq(ka, kb, 'tincan vs Node');
    }, 5000);
  }
}

async function corsAndCompare() {
  const allow = (req, fn) => fn(req.headers['x-deny'] ? 'Forbidden' : null, !req.headers['x-deny']);
  const common = ['--forbid-header', 'x-deny', '--max-payload', '1000'];
  const configs = [
    ['origin "*"', ['--cors', '*'], { cors: { origin: '*' } }],
    ['origin list + credentials', ['--cors', 'http://a.example, http://b.example', '--credentials'],
     { cors: { origin: ['http://a.example', 'http://b.example'], credentials: true } }],
    ['one fixed origin', ['--cors', 'http://a.example'], { cors: { origin: 'http://a.example' } }],
  ];
  for (const [label, args, opts] of configs) {
    const tc = await startEcho([...common, ...args]);
    const node = await startNode({ ...opts, allowRequest: allow, maxHttpBufferSize: 1000 });
    try {
      await compareSuite(tc, node, label);
    } finally {
      await node.stop();
      await stopEcho(tc, `server with CORS ${label}`);
    }
  }
  await it('CORS off: no Access-Control headers, OPTIONS is a bad handshake method', async () => {
    const tc = await startEcho(['--cors', '']);
    try {
      const r = await request(`${tc.url}/engine.io/?EIO=4&transport=polling`, { headers: { Origin: 'http://a.example' } });
      assert(!('access-control-allow-origin' in r.headers), 'no ACAO');
      const o = await request(`${tc.url}/engine.io/?EIO=4&transport=polling`, { method: 'OPTIONS' });
      assertEq([o.status, o.body], [400, JSON.stringify({ code: 2, message: 'Bad handshake method' })], 'OPTIONS');
    } finally {
      await stopEcho(tc, 'server without CORS');
    }
  }, 5000);
}

async function transportsOff() {
  await it('transports: polling off, WebSocket off', async () => {
    const a = await startEcho(['--no-polling']);
    const b = await startEcho(['--no-websocket']);
    try {
      const r = await request(`${a.url}/engine.io/?EIO=4&transport=polling`);
      assertEq([r.status, r.body], [400, JSON.stringify({ code: 0, message: 'Transport unknown' })], 'no polling');
      const q = wsQueue(`${a.ws}/engine.io/?EIO=4&transport=websocket`);
      assert(JSON.parse((await q.next()).slice(1)).upgrades.length === 0, 'websocket works');
      q.ws.close();
      const h = await request(`${b.url}/engine.io/?EIO=4&transport=polling`);
      assertEq(JSON.parse(h.body.slice(1)).upgrades, [], 'no upgrades offered without WebSocket');
      const w = await request(`${b.url}/engine.io/?EIO=4&transport=websocket`, { headers: UPGRADE_HEADERS });
      assertEq([w.status, w.body], [400, 'Transport unknown'], 'no websocket');
    } finally {
      await stopEcho(a, 'server without polling');
      await stopEcho(b, 'server without WebSocket');
    }
  }, 8000);

  await it('WebSocket with permessage-deflate: echo and shared packets', async () => {
    const s = await startEcho(['--deflate']);
    try {
      const q = wsQueue(`${s.ws}/engine.io/?EIO=4&transport=websocket`, { perMessageDeflate: true });
      await q.next();
      assert(/permessage-deflate/.test(q.ws.extensions), `extensions ${q.ws.extensions}`);
      const big = '4' + 'abc'.repeat(5000);
      q.ws.send(big);
      assertEq(await q.next(), big, 'echo');
      q.ws.send('4__broadcast shared');
      assertEq(await q.next(), '4shared', 'shared');
      q.ws.close();
    } finally {
      await stopEcho(s, 'deflate server');
    }
  }, 8000);
}

// ---- main ----------------------------------------------------------------------------------------------

async function main() {
  const srv = await startEcho();
  try {
    await protocolSuite(srv);
    await clientSuite(srv);
    await rawSuite(srv);
    await it('server alive at the end, sessions counted', async () => {
      const q = wsQueue(`${srv.ws}/engine.io/?EIO=4&transport=websocket`);
      await q.next();
      q.ws.send('4__count');
      assert(/^4count \d+$/.test(await q.next()), 'count');
      q.ws.close();
    });
  } finally {
    await stopEcho(srv, 'eio_echo_server');
  }
  await corsAndCompare();
  await transportsOff();
  t.summary();
}

main().catch((e) => {
  t.bad('unexpected error', e.stack);
  t.summary();
}).finally(() => setTimeout(() => process.exit(process.exitCode), 100));
