// Socket.IO interop: tincan's Socket.IO server against the official Node client, socket.io-client
// 4.8, and against raw packets.
//
//   - build/examples/sio-conformance, the server the protocol repositories' test suites expect:
//     the socket.io-protocol test suite (test-suite/test-suite.js, Engine.IO v4 / Socket.IO v5)
//     ported case by case to raw packets over `ws` and fetch, and its Engine.IO echo on
//     /engine.io/;
//   - the same binary with --extras, driven by socket.io-client in each transport mode (WebSocket
//     only, polling only, polling then upgrade): connection and disconnection reasons,
//     namespaces, auth refusal, events and acknowledgements both ways (with timeouts), binary in
//     nested arguments both ways, rooms / except / broadcasts, volatile events, heartbeat
//     timeout, the 413 and 1009 size limits; and with --recovery, connection state recovery
//     after a forced transport close with no broadcast lost;
//   - the tincan binary: the browser client it serves, the main namespace's echo and benchmark
//     events, and the chat on /chat (web/chat/README.md), in each transport mode, with its
//     validation, history, presence, typing, and recovery.
//
// Env: SIO_CONFORMANCE (default build/examples/sio-conformance), TINCAN_BIN, TINCAN_SRC. Prints
// one line per check; exits non-zero on a failure.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { io } from 'socket.io-client';
import { checklist, SRC, sleep, startTincan, stopAndCheck, watchdog, within } from './lib.mjs';

const BIN = process.env.SIO_CONFORMANCE || join(SRC, 'build', 'examples', 'sio-conformance');
const SANITIZER_RE = /AddressSanitizer|LeakSanitizer|runtime error/;
const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;

const t = checklist();
watchdog(175000);

const MODES = [
  { name: 'websocket', opts: { transports: ['websocket'] }, final: 'websocket' },
  { name: 'polling', opts: { transports: ['polling'] }, final: 'polling' },
  { name: 'upgrade', opts: { transports: ['polling', 'websocket'] }, final: 'websocket' },
];

// ---- servers --------------------------------------------------------------------------------------

const children = new Set();
process.on('exit', () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });

// Starts sio-conformance on a free port: {url, ws, log(), waitLog(re), stop()}.
function startConformance(args = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, ['--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(proc);
    let log = '';
    const exited = new Promise((r) => proc.on('close', (code, signal) => r({ code, signal })));
    const timer = setTimeout(() => reject(new Error(`no "listening on" in 15 s: ${log}`)), 15000);
    let started = false;
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (!m || started) return;
      started = true;
      clearTimeout(timer);
      const port = Number(m[1]);
      resolve({
        port,
        url: `http://127.0.0.1:${port}`,
        ws: `ws://127.0.0.1:${port}`,
        log: () => log,
        // The first match of re in the log, waiting up to ms for it; null when it never comes.
        waitLog: async (re, ms = 3000) => {
          const end = Date.now() + ms;
          for (;;) {
            const mm = re.exec(log);
            if (mm) return mm;
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
      });
    });
    proc.on('error', reject);
    proc.on('exit', (code) => { if (!started) reject(new Error(`exited early (${code}): ${log}`)); });
  });
}

async function stopConformance(srv, label) {
  const r = await srv.stop();
  t.check(`${label}: exits 0 on SIGTERM`, r.code === 0, `code ${r.code} signal ${r.signal}: ${srv.log().slice(-1500)}`);
  const m = SANITIZER_RE.exec(srv.log());
  t.check(`${label}: no sanitizer report`, !m, m ? srv.log().slice(Math.max(0, m.index - 200), m.index + 3000) : '');
}

// ---- helpers --------------------------------------------------------------------------------------

const J = (v) => JSON.stringify(v, (k, x) => (x && x.type === 'Buffer' && Array.isArray(x.data) ? `<bytes ${x.data.join(',')}>` : x));
const same = (a, b) => J(a) === J(b);
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

// A raw WebSocket whose messages queue up (text as strings, binary as Buffers).
function rawWs(url) {
  const ws = new WebSocket(url);
  const q = { ws, msgs: [], waiters: [] };
  q.opened = new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
  q.opened.catch(() => {});
  q.closed = new Promise((res) => ws.on('close', (code) => {
    for (const w of q.waiters.splice(0)) w(null);
    res(code);
  }));
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    const m = isBinary ? Buffer.from(data) : data.toString();
    const w = q.waiters.shift();
    if (w) w(m);
    else q.msgs.push(m);
  });
  q.next = (ms = 3000) => (q.msgs.length ? Promise.resolve(q.msgs.shift())
    : within(ms, new Promise((r) => q.waiters.push(r)), 'waiting for a WebSocket message'));
  // The next message that is not a ping (answering pings is left to the caller).
  q.nextData = async (ms = 3000) => {
    for (;;) {
      const m = await q.next(ms);
      if (m !== '2') return m;
    }
  };
  q.send = (d) => ws.send(d);
  q.close = () => ws.close();
  return q;
}

// Resolves to the close code, or 'open' if the socket is still open after ms.
const closedWithin = (q, ms) => Promise.race([q.closed, sleep(ms).then(() => 'open')]);

// The arguments of the next `event` on an emitter, as an array; rejects after ms.
function next(emitter, event, ms = 3000) {
  return within(ms, new Promise((r) => emitter.once(event, (...a) => r(a))), `waiting for "${event}"`);
}

// Everything `event` brings during ms.
async function gather(emitter, event, ms) {
  const got = [];
  const f = (...a) => got.push(a);
  emitter.on(event, f);
  await sleep(ms);
  emitter.off(event, f);
  return got;
}

// An acknowledged emit with the client's timeout: resolves to {err, args}.
function ask(sock, ms, event, ...args) {
  return new Promise((r) => sock.timeout(ms).emit(event, ...args, (err, ...res) => r({ err, args: res })));
}

// A Socket.IO client in a transport mode; resolves once connected (and upgraded, when that is the
// mode's final transport) with the socket, or rejects with the connect error.
async function connect(url, mode, opts = {}) {
  const sock = io(url, { forceNew: true, reconnection: false, ...mode.opts, ...opts });
  await within(5000, new Promise((res, rej) => {
    sock.once('connect', res);
    sock.once('connect_error', rej);
  }), `connecting to ${url} (${mode.name})`);
  if (mode.final === 'websocket' && sock.io.engine.transport.name !== 'websocket') {
    await within(5000, new Promise((r) => sock.io.engine.once('upgrade', r)), 'upgrade');
  }
  return sock;
}

// Resolves to the connect_error of a client that should be refused.
async function refused(url, mode, opts = {}) {
  const sock = io(url, { forceNew: true, reconnection: false, ...mode.opts, ...opts });
  try {
    return await within(5000, new Promise((res, rej) => {
      sock.once('connect', () => rej(new Error('connected')));
      sock.once('connect_error', res);
    }), 'refusal');
  } finally {
    sock.disconnect();
  }
}

async function http(url, { method = 'GET', headers = {}, body } = {}) {
  const res = await fetch(url, { method, headers, body });
  const buf = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body: buf.toString(), raw: buf };
}

async function pollingSid(base, path = '/socket.io/') {
  const r = await http(`${base}${path}?EIO=4&transport=polling`);
  return JSON.parse(r.body.substring(1)).sid;
}

// Runs one check body; an exception is a failure of that check, not of the whole run.
async function step(desc, fn) {
  try {
    await fn();
  } catch (e) {
    t.bad(desc, e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : String(e));
  }
}

// ---- the socket.io-protocol test suite, ported --------------------------------------------------

async function suite(srv) {
  const URL = srv.url;
  const WS_URL = srv.ws;
  const P = 'suite';

  // A WebSocket session connected to "/" and greeted, as the suite's initSocketIOConnection.
  const initSocketIOConnection = async () => {
    const s = rawWs(`${WS_URL}/socket.io/?EIO=4&transport=websocket`);
    await s.next(); // Engine.IO handshake
    s.send('40');
    await s.next(); // Socket.IO handshake
    await s.next(); // "auth" packet
    return s;
  };

  await step(`${P}: polling handshake`, async () => {
    const r = await http(`${URL}/socket.io/?EIO=4&transport=polling`);
    t.eq(`${P}: polling handshake status 200`, 200, r.status);
    t.check(`${P}: polling handshake starts with "0"`, r.body.startsWith('0'), r.body);
    const v = JSON.parse(r.body.substring(1));
    t.eq(`${P}: polling handshake keys`, 'maxPayload,pingInterval,pingTimeout,sid,upgrades', Object.keys(v).sort().join());
    t.check(`${P}: polling handshake values`, typeof v.sid === 'string' && same(v.upgrades, ['websocket']) &&
            v.pingInterval === PING_INTERVAL && v.pingTimeout === PING_TIMEOUT && v.maxPayload === 1000000, r.body);
  });

  await step(`${P}: bad handshakes`, async () => {
    const codes = [];
    for (const q of ['transport=polling', 'EIO=abc&transport=polling', 'EIO=4', 'EIO=4&transport=abc']) {
      codes.push((await http(`${URL}/socket.io/?${q}`)).status);
    }
    codes.push((await http(`${URL}/socket.io/?EIO=4&transport=polling`, { method: 'POST' })).status);
    codes.push((await http(`${URL}/socket.io/?EIO=4&transport=polling`, { method: 'PUT' })).status);
    t.eq(`${P}: missing or invalid EIO, transport, method: 400 each`, '400,400,400,400,400,400', codes.join());
  });

  await step(`${P}: WebSocket handshake`, async () => {
    const s = rawWs(`${WS_URL}/socket.io/?EIO=4&transport=websocket`);
    const data = await s.next();
    const v = JSON.parse(data.substring(1));
    t.check(`${P}: WebSocket handshake`, data.startsWith('0') && typeof v.sid === 'string' && same(v.upgrades, []) &&
            v.pingInterval === PING_INTERVAL && v.pingTimeout === PING_TIMEOUT && v.maxPayload === 1000000, data);
    s.close();
    const bad = [];
    for (const q of ['transport=websocket', 'EIO=abc&transport=websocket', 'EIO=4', 'EIO=4&transport=abc']) {
      const b = rawWs(`${WS_URL}/socket.io/?${q}`);
      bad.push(await closedWithin(b, 2000));
    }
    t.check(`${P}: WebSocket with invalid EIO or transport is refused`, bad.every((c) => c !== 'open'), J(bad));
  });

  await step(`${P}: polling heartbeat`, async () => {
    const sid = await pollingSid(URL);
    const got = [];
    for (let i = 0; i < 3; i++) {
      const poll = await http(`${URL}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
      got.push(`${poll.status}:${poll.body}`);
      const push = await http(`${URL}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '3' });
      got.push(push.status);
    }
    t.eq(`${P}: polling ping/pong three times`, '200:2,200,200:2,200,200:2,200', got.join());
  });

  await step(`${P}: polling ping timeout`, async () => {
    const sid = await pollingSid(URL);
    // The suite sleeps exactly this long; a little more keeps a busy machine from racing the timer.
    await sleep(PING_INTERVAL + PING_TIMEOUT + 150);
    const r = await http(`${URL}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    t.eq(`${P}: polling session closed after the ping timeout (400)`, 400, r.status);
  });

  await step(`${P}: WebSocket heartbeat`, async () => {
    const s = rawWs(`${WS_URL}/socket.io/?EIO=4&transport=websocket`);
    await s.next();
    const got = [];
    for (let i = 0; i < 3; i++) {
      got.push(await s.next(2000));
      s.send('3');
    }
    t.eq(`${P}: WebSocket ping/pong three times`, '2,2,2', got.join());
    s.close();
    const s2 = rawWs(`${WS_URL}/socket.io/?EIO=4&transport=websocket`);
    t.check(`${P}: WebSocket session closed after the ping timeout`, (await closedWithin(s2, 3000)) !== 'open');
  });

  await step(`${P}: close`, async () => {
    const sid = await pollingSid(URL);
    const [poll] = await Promise.all([
      http(`${URL}/socket.io/?EIO=4&transport=polling&sid=${sid}`),
      sleep(20).then(() => http(`${URL}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '1' })),
    ]);
    t.check(`${P}: polling close packet ends the waiting GET with a noop`, poll.status === 200 && poll.body === '6', `${poll.status} ${poll.body}`);
    const after = await http(`${URL}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    t.eq(`${P}: polling session gone after its close packet`, 400, after.status);
    const s = rawWs(`${WS_URL}/socket.io/?EIO=4&transport=websocket`);
    await s.next();
    s.send('1');
    t.check(`${P}: WebSocket close packet closes`, (await closedWithin(s, 2000)) !== 'open');
  });

  await step(`${P}: upgrade`, async () => {
    let sid = await pollingSid(URL);
    let s = rawWs(`${WS_URL}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    await s.opened;
    s.send('2probe');
    t.eq(`${P}: upgrade probe answered`, '3probe', await s.next());
    s.send('5');
    s.close();
    sid = await pollingSid(URL);
    s = rawWs(`${WS_URL}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    await s.opened;
    s.send('2probe');
    s.send('5');
    await s.next();
    const poll = await http(`${URL}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    t.eq(`${P}: polling after upgrade refused (400)`, 400, poll.status);
    const s2 = rawWs(`${WS_URL}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    t.check(`${P}: second WebSocket with the same sid refused`, (await closedWithin(s2, 2000)) !== 'open');
    s.close();
  });

  await step(`${P}: connect`, async () => {
    const cases = [
      ['40', '40', '42["auth",{}]'],
      ['40{"token":"123"}', '40', '42["auth",{"token":"123"}]'],
      ['40/custom,', '40/custom,', '42/custom,["auth",{}]'],
      ['40/custom,{"token":"abc"}', '40/custom,', '42/custom,["auth",{"token":"abc"}]'],
    ];
    for (const [send, prefix, auth] of cases) {
      const s = rawWs(`${WS_URL}/socket.io/?EIO=4&transport=websocket`);
      await s.next();
      s.send(send);
      const data = await s.next();
      let keys = '';
      try {
        keys = Object.keys(JSON.parse(data.substring(prefix.length))).join();
      } catch {}
      t.check(`${P}: ${send} answered with ${prefix}{"sid"}`, data.startsWith(prefix) && keys === 'sid', data);
      t.eq(`${P}: ${send} greeted with auth`, auth, await s.next());
      s.close();
    }
    const s = rawWs(`${WS_URL}/socket.io/?EIO=4&transport=websocket`);
    await s.next();
    s.send('40/random');
    t.eq(`${P}: unknown namespace refused`, '44/random,{"message":"Invalid namespace"}', await s.next());
    s.close();
    const s2 = rawWs(`${WS_URL}/socket.io/?EIO=4&transport=websocket`);
    await s2.next();
    s2.send('4abc');
    t.check(`${P}: invalid handshake closes`, (await closedWithin(s2, 2000)) !== 'open');
    const s3 = rawWs(`${WS_URL}/socket.io/?EIO=4&transport=websocket`);
    t.check(`${P}: no handshake within connectTimeout closes`, (await closedWithin(s3, 3000)) !== 'open');
  });

  await step(`${P}: disconnect`, async () => {
    let s = await initSocketIOConnection();
    s.send('41');
    t.eq(`${P}: after 41 the session stays (next is a ping)`, '2', await s.next(2000));
    s.close();
    s = await initSocketIOConnection();
    await s.next(2000); // ping
    s.send('40/custom');
    await s.nextData();
    await s.nextData();
    s.send('41/custom');
    s.send('42["message","message to main namespace"]');
    t.eq(`${P}: leaving /custom keeps /`, '42["message-back","message to main namespace"]', await s.nextData());
    s.close();
  });

  await step(`${P}: message`, async () => {
    let s = await initSocketIOConnection();
    s.send('42["message",1,"2",{"3":[true]}]');
    t.eq(`${P}: plain-text event echoed`, '42["message-back",1,"2",{"3":[true]}]', await s.nextData());
    s.close();
    s = await initSocketIOConnection();
    s.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    s.send(Buffer.from([1, 2, 3]));
    s.send(Buffer.from([4, 5, 6]));
    const p = [await s.nextData(), await s.nextData(), await s.nextData()];
    t.check(`${P}: binary event echoed with its attachments`,
            p[0] === '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]' &&
            Buffer.isBuffer(p[1]) && p[1].equals(Buffer.from([1, 2, 3])) && Buffer.isBuffer(p[2]) && p[2].equals(Buffer.from([4, 5, 6])), J(p));
    s.close();
    s = await initSocketIOConnection();
    s.send('42456["message-with-ack",1,"2",{"3":[false]}]');
    t.eq(`${P}: plain-text ack`, '43456[1,"2",{"3":[false]}]', await s.nextData());
    s.close();
    s = await initSocketIOConnection();
    s.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    s.send(Buffer.from([1, 2, 3]));
    s.send(Buffer.from([4, 5, 6]));
    const a = [await s.nextData(), await s.nextData(), await s.nextData()];
    t.check(`${P}: binary ack`, a[0] === '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]' &&
            Buffer.isBuffer(a[1]) && a[1].equals(Buffer.from([1, 2, 3])) && Buffer.isBuffer(a[2]) && a[2].equals(Buffer.from([4, 5, 6])), J(a));
    s.close();
    for (const bad of ['4abc', '42{}', '42abc["message-with-ack",1,"2",{"3":[false]}]']) {
      s = await initSocketIOConnection();
      s.send(bad);
      t.check(`${P}: invalid packet ${bad} closes`, (await closedWithin(s, 2000)) !== 'open');
    }
  });
}

// The Engine.IO echo on /engine.io/ (the engine.io-protocol suite runs in test_eio_node.mjs against
// the Engine.IO echo server; here, that this binary serves it too).
async function engineEcho(srv) {
  await step('engine.io: echo', async () => {
    const s = rawWs(`${srv.ws}/engine.io/?EIO=4&transport=websocket`);
    const open = JSON.parse((await s.next()).substring(1));
    t.check('engine.io: WebSocket handshake on /engine.io/ with the suite settings',
            open.pingInterval === PING_INTERVAL && open.pingTimeout === PING_TIMEOUT && open.maxPayload === 1000000, J(open));
    s.send('4hello');
    t.eq('engine.io: WebSocket text echoed', '4hello', await s.nextData());
    s.send(Buffer.from([1, 2, 3, 4]));
    const b = await s.nextData();
    t.check('engine.io: WebSocket binary echoed', Buffer.isBuffer(b) && b.equals(Buffer.from([1, 2, 3, 4])), J(b));
    s.close();
    const sid = await pollingSid(srv.url, '/engine.io/');
    const push = await http(`${srv.url}/engine.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '4hello\x1ebAQIDBA==' });
    const poll = await http(`${srv.url}/engine.io/?EIO=4&transport=polling&sid=${sid}`);
    t.check('engine.io: polling text and binary echoed', push.status === 200 && poll.body === '4hello\x1ebAQIDBA==', `${push.status} ${J(poll.body)}`);
    // A few more cases of the engine.io-protocol suite, which test_eio_node.mjs runs in full
    // against the Engine.IO echo server.
    const E = `${srv.url}/engine.io/?EIO=4&transport=polling`;
    let sid2 = await pollingSid(srv.url, '/engine.io/');
    await http(`${E}&sid=${sid2}`, { method: 'POST', body: '4test1\x1e4test2\x1e4test3' });
    const several = await http(`${E}&sid=${sid2}`);
    t.eq('engine.io: several packets in one payload come back in one payload', '4test1\x1e4test2\x1e4test3', several.body);
    sid2 = await pollingSid(srv.url, '/engine.io/');
    const badPost = await http(`${E}&sid=${sid2}`, { method: 'POST', body: 'abc' }).catch(() => ({ status: 'reset' }));
    const afterBad = await http(`${E}&sid=${sid2}`);
    t.check('engine.io: an invalid packet closes the session', (badPost.status === 400 || badPost.status === 'reset') && afterBad.status === 400,
            `${badPost.status} ${afterBad.status}`);
    sid2 = await pollingSid(srv.url, '/engine.io/');
    const dup = await Promise.all([http(`${E}&sid=${sid2}`), sleep(5).then(() => http(`${E}&sid=${sid2}&t=burst`))]);
    const afterDup = await http(`${E}&sid=${sid2}`);
    t.check('engine.io: a second poll while one waits closes the session', dup[0].status === 200 && dup[0].body === '1' &&
            [400, 500].includes(dup[1].status) && afterDup.status === 400, `${dup[0].status} ${J(dup[0].body)} ${dup[1].status} ${afterDup.status}`);
    sid2 = await pollingSid(srv.url, '/engine.io/');
    const up = rawWs(`${srv.ws}/engine.io/?EIO=4&transport=websocket&sid=${sid2}`);
    await up.opened;
    up.send('2probe');
    const probe = await up.next();
    const noop = await http(`${E}&sid=${sid2}`);
    up.send('5');
    up.send('4hello');
    const hello = await up.nextData();
    t.check('engine.io: upgrade: probe, the waiting poll ends with a noop, then messages over WebSocket',
            probe === '3probe' && noop.status === 200 && noop.body === '6' && hello === '4hello', J([probe, noop.status, noop.body, hello]));
    up.close();
    const cors = await http(`${srv.url}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: 'http://elsewhere.example' } });
    const pre = await http(`${srv.url}/socket.io/?EIO=4&transport=polling`,
                           { method: 'OPTIONS', headers: { Origin: 'http://elsewhere.example', 'Access-Control-Request-Method': 'POST' } });
    t.check('sio-conformance: CORS "*" on Socket.IO requests and preflights',
            cors.headers.get('access-control-allow-origin') === '*' && pre.status === 204 && pre.headers.get('access-control-allow-origin') === '*',
            `${cors.headers.get('access-control-allow-origin')} ${pre.status} ${pre.headers.get('access-control-allow-origin')}`);
  });
}

// ---- socket.io-client against sio-conformance --extras -------------------------------------------

async function clientModes(srv) {
  const url = srv.url;
  for (const mode of MODES) {
    const P = `client ${mode.name}`;
    const open = [];
    const conn = async (nsp = '/', opts = {}) => {
      const s = await connect(url + nsp, mode, opts);
      open.push(s);
      return s;
    };
    try {
      await step(`${P}: connect`, async () => {
        const sock = io(`${url}/`, { forceNew: true, reconnection: false, auth: { token: 'x', n: [1, 2] }, ...mode.opts });
        open.push(sock);
        const [auth] = await next(sock, 'auth', 5000);
        t.check(`${P}: connects and is greeted with its auth`, same(auth, { token: 'x', n: [1, 2] }), J(auth));
        t.check(`${P}: socket id is 20 characters`, typeof sock.id === 'string' && sock.id.length === 20, sock.id);
        if (mode.final === 'websocket' && sock.io.engine.transport.name !== 'websocket') await next(sock.io.engine, 'upgrade', 5000);
        t.eq(`${P}: transport`, mode.final, sock.io.engine.transport.name);
        t.check(`${P}: the server logs the connection`, !!(await srv.waitLog(new RegExp(`^connect / ${esc(sock.id)}$`, 'm'))));
      });

      await step(`${P}: namespaces`, async () => {
        const custom = io(`${url}/custom`, { forceNew: true, reconnection: false, ...mode.opts });
        open.push(custom);
        const [auth] = await next(custom, 'auth', 5000);
        t.check(`${P}: /custom connects`, custom.connected && same(auth, {}), J(auth));
        const err = await refused(`${url}/random`, mode);
        t.eq(`${P}: unknown namespace refused`, 'Invalid namespace', err.message);
        const no = await refused(`${url}/secure`, mode, { auth: { token: 'nope' } });
        t.check(`${P}: auth refused by a middleware, with its message and data`,
                no.message === 'unauthorized' && same(no.data, { code: 4001 }), `${no.message} ${J(no.data)}`);
        const yes = await conn('/secure', { auth: { token: 'ok' } });
        t.check(`${P}: the right auth gets in`, yes.connected);
        // Two namespaces over one connection (one Manager).
        const m = io(`${url}/`, { forceNew: true, reconnection: false, ...mode.opts });
        const m2 = m.io.socket('/custom'); // connects by itself (autoConnect)
        open.push(m, m2);
        await Promise.all([next(m, 'auth', 5000), next(m2, 'auth', 5000)]);
        t.check(`${P}: "/" and "/custom" share one Engine.IO session`, m.connected && m2.connected && m.io.engine === m2.io.engine);
      });

      await step(`${P}: events and acks`, async () => {
        const sock = await conn();
        sock.emit('message', 1, '2', { 3: [true] }, null, 'ü✓😀');
        const back = await next(sock, 'message-back');
        t.check(`${P}: event echoed with the same arguments`, same(back, [1, '2', { 3: [true] }, null, 'ü✓😀']), J(back));
        const r = await ask(sock, 2000, 'message-with-ack', 'a', { b: [1, 2] });
        t.check(`${P}: server acks with the same arguments`, !r.err && same(r.args, ['a', { b: [1, 2] }]), J(r));
        const late = await ask(sock, 300, 'message', 'no ack');
        t.check(`${P}: client ack timeout fires when the server does not answer`, late.err && /timed out/.test(late.err.message), J(late));
        sock.once('question', (...args) => args.pop()('yes', { n: args[0] }));
        sock.emit('ask', 41);
        const ans = await next(sock, 'answer');
        t.check(`${P}: client acks a server emit`, same(ans, ['yes', { n: 41 }]), J(ans));
        sock.once('question', () => {}); // never acknowledged
        sock.emit('ask', 'ignored');
        await next(sock, 'answer-timeout', 3000);
        t.ok(`${P}: server ack timeout fires when the client does not answer`);
      });

      await step(`${P}: order and size`, async () => {
        // Emitted before the connection is even up, so that in upgrade mode they cross the
        // switch from polling to WebSocket.
        const sock = io(`${url}/`, { forceNew: true, reconnection: false, ...mode.opts });
        open.push(sock);
        const got = [];
        sock.on('message-back', (i) => got.push(i));
        for (let i = 0; i < 200; i++) sock.emit('message', i);
        await within(10000, (async () => { while (got.length < 200) await sleep(10); })(), 'burst').catch(() => {});
        t.check(`${P}: 200 events emitted at once come back complete and in order`,
                got.length === 200 && got.every((v, i) => v === i), `${got.length}: ${got.slice(0, 5)}...`);
        const big = Buffer.alloc(600000, 0);
        for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 255;
        sock.emit('message', { big });
        const [back] = await next(sock, 'message-back', 10000);
        t.check(`${P}: a 600 kB binary argument goes both ways intact`, Buffer.isBuffer(back.big) && back.big.equals(big),
                `${back && back.big && back.big.length}`);
      });

      await step(`${P}: binary`, async () => {
        const sock = await conn();
        const args = [Buffer.from([0, 1, 2]), { a: [Buffer.from('xyz'), { deep: { er: Buffer.alloc(0) } }], s: 'text' }, [1, [Buffer.from([255])]]];
        sock.emit('message', ...args);
        const back = await next(sock, 'message-back');
        t.check(`${P}: binary in nested arguments, client to server and back`, same(back, args) && Buffer.isBuffer(back[1].a[0]), J(back));
        const r = await ask(sock, 2000, 'message-with-ack', { bin: Buffer.from([9, 8, 7]) }, Buffer.from([1]));
        t.check(`${P}: binary in an ack`, !r.err && same(r.args, [{ bin: Buffer.from([9, 8, 7]) }, Buffer.from([1])]), J(r));
        sock.once('question', (...a) => a.pop()({ got: a[0] }, Buffer.from([4, 2])));
        sock.emit('ask', Buffer.from([7, 7]));
        const ans = await next(sock, 'answer');
        t.check(`${P}: binary in a server emit and in the client's ack of it`,
                same(ans, [{ got: Buffer.from([7, 7]) }, Buffer.from([4, 2])]), J(ans));
      });

      await step(`${P}: rooms and broadcasts`, async () => {
        const [a, b, c] = [await conn(), await conn(), await conn()];
        await ask(a, 2000, 'join', 'r');
        await ask(b, 2000, 'join', 'r');
        const watch = (ev) => Promise.all([a, b, c].map((s) => gather(s, ev, 400)));
        let w = watch('room-message');
        a.emit('to-room', 'r', 'x', Buffer.from([1]));
        let [ga, gb, gc] = await w;
        t.check(`${P}: to(room) from a socket: the room but the sender`,
                ga.length === 0 && gc.length === 0 && gb.length === 1 && same(gb[0], ['x', Buffer.from([1])]), J([ga, gb, gc]));
        w = watch('room-message');
        c.emit('to-room-all', 'r', 'y');
        [ga, gb, gc] = await w;
        t.check(`${P}: to(room) from the namespace: everyone in the room`,
                same(ga, [['y']]) && same(gb, [['y']]) && gc.length === 0, J([ga, gb, gc]));
        w = watch('all-message');
        a.emit('to-all', 'z');
        [ga, gb, gc] = await w;
        t.check(`${P}: namespace broadcast reaches everyone, the sender too`,
                same(ga, [['z']]) && same(gb, [['z']]) && same(gc, [['z']]), J([ga, gb, gc]));
        w = watch('all-message');
        a.emit('to-all-except', 'r', 'w');
        [ga, gb, gc] = await w;
        t.check(`${P}: except(room)`, ga.length === 0 && gb.length === 0 && same(gc, [['w']]), J([ga, gb, gc]));
        await ask(b, 2000, 'leave', 'r');
        w = watch('room-message');
        c.emit('to-room-all', 'r', 'v');
        [ga, gb, gc] = await w;
        t.check(`${P}: a socket that left the room hears nothing`, same(ga, [['v']]) && gb.length === 0 && gc.length === 0, J([ga, gb, gc]));
      });

      await step(`${P}: volatile`, async () => {
        const sock = await conn();
        const ticks = [];
        sock.on('tick', (i) => ticks.push(i));
        sock.emit('volatile-burst', 300);
        const [n] = await next(sock, 'burst-done', 5000);
        const ordered = ticks.every((v, i) => i === 0 || v > ticks[i - 1]);
        t.check(`${P}: volatile events arrive in order, at most once each, and the next plain event arrives`,
                n === 300 && ticks.length >= 1 && ticks.length <= 300 && ordered, `${ticks.length} of 300`);
        t.check(`${P}: volatile events that find the transport busy are dropped`, ticks.length < 300, `${ticks.length} of 300`);
      });

      await step(`${P}: disconnect reasons`, async () => {
        let sock = await conn();
        let id = sock.id;
        let d = next(sock, 'disconnect');
        sock.disconnect();
        t.eq(`${P}: client disconnect: client reason`, 'io client disconnect', (await d)[0]);
        t.check(`${P}: client disconnect: server reason`, !!(await srv.waitLog(new RegExp(`^disconnect / ${esc(id)} client namespace disconnect$`, 'm'))));

        sock = await conn();
        id = sock.id;
        d = next(sock, 'disconnect');
        sock.emit('bye');
        t.eq(`${P}: server disconnect: client reason`, 'io server disconnect', (await d)[0]);
        t.check(`${P}: server disconnect: server reason`, !!(await srv.waitLog(new RegExp(`^disconnect / ${esc(id)} server namespace disconnect$`, 'm'))));

        sock = await conn();
        const other = sock.io.socket('/custom');
        await next(other, 'auth');
        const d1 = next(sock, 'disconnect');
        const d2 = next(other, 'disconnect');
        sock.emit('bye-all');
        const reasons = [(await d1)[0], (await d2)[0]];
        t.check(`${P}: server closes the whole connection: every namespace is told`,
                reasons[0] === 'io server disconnect' && reasons[1] === 'io server disconnect', J(reasons));

        sock = await conn();
        id = sock.id;
        d = next(sock, 'disconnect');
        sock.emit('drop-transport');
        t.eq(`${P}: transport closed by the server: client reason`, 'transport close', (await d)[0]);
        t.check(`${P}: transport closed by the server: server reason`, !!(await srv.waitLog(new RegExp(`^disconnect / ${esc(id)} forced close$`, 'm'))));

        sock = await conn();
        id = sock.id;
        d = next(sock, 'disconnect', 5000);
        sock.io.engine.close();
        t.eq(`${P}: transport closed by the client: client reason`, 'forced close', (await d)[0]);
        t.check(`${P}: transport closed by the client: server reason`, !!(await srv.waitLog(new RegExp(`^disconnect / ${esc(id)} transport close$`, 'm'))));
      });

      await step(`${P}: heartbeat timeout`, async () => {
        const sock = await conn();
        const id = sock.id;
        const d = next(sock, 'disconnect', 5000);
        // The client stops answering pings: the server gives up after pingInterval + pingTimeout.
        const engine = sock.io.engine;
        const send = engine._sendPacket.bind(engine);
        engine._sendPacket = (type, ...rest) => (type === 'pong' ? undefined : send(type, ...rest));
        const m = await srv.waitLog(new RegExp(`^disconnect / ${esc(id)} (.*)$`, 'm'), 5000);
        t.check(`${P}: server closes a silent client with "ping timeout"`, m && m[1] === 'ping timeout', m ? m[1] : 'no disconnect');
        const [reason] = await d;
        t.check(`${P}: the client sees its connection go`, /transport (close|error)|ping timeout/.test(reason), reason);
      });

      await step(`${P}: size limits`, async () => {
        const sock = await conn();
        const big = 'x'.repeat(999000);
        sock.emit('message', big);
        const [back] = await next(sock, 'message-back', 10000);
        t.check(`${P}: a message just under maxHttpBufferSize goes both ways`, back === big, `${back && back.length}`);
        const id = sock.id;
        const d = next(sock, 'disconnect', 10000);
        sock.emit('message', 'y'.repeat(1000001));
        const [reason] = await d;
        const m = await srv.waitLog(new RegExp(`^disconnect / ${esc(id)} (.*)$`, 'm'), 5000);
        const expected = mode.final === 'websocket' ? 'transport close' : 'transport error';
        t.check(`${P}: a message over maxHttpBufferSize costs the connection (client: ${expected})`, reason === expected, reason);
        t.check(`${P}: ... and the server sees it go`, !!m, m ? m[1] : 'no disconnect');
      });
    } finally {
      for (const s of open) s.disconnect();
    }
  }

  await step('limits: raw 413 and 1009', async () => {
    const sid = await pollingSid(url);
    const r = await http(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '4' + 'a'.repeat(1000000) });
    t.eq('limits: a POST over maxHttpBufferSize gets 413', 413, r.status);
    const s = rawWs(`${srv.ws}/socket.io/?EIO=4&transport=websocket`);
    await s.next();
    s.send('4' + 'a'.repeat(1000001));
    t.eq('limits: a WebSocket message over maxHttpBufferSize closes with 1009', 1009, await closedWithin(s, 3000));
    // As Node: a malformed Socket.IO packet makes the server close the connection ("forced
    // close"); a malformed Engine.IO packet is a "parse error".
    for (const [bad, reason] of [['4abc', 'forced close'], ['x', 'parse error']]) {
      const s2 = rawWs(`${srv.ws}/socket.io/?EIO=4&transport=websocket`);
      await s2.next();
      s2.send('40');
      const sid = JSON.parse((await s2.nextData()).substring(2)).sid;
      await s2.nextData(); // auth
      s2.send(bad);
      t.check(`reasons: a malformed packet ${J(bad)} is "${reason}" on the server`,
              !!(await srv.waitLog(new RegExp(`^disconnect / ${esc(sid)} ${reason}$`, 'm'), 3000)));
      s2.close();
    }
  });
}

// Shutting the server down (SIGTERM): every socket goes with "server shutting down", and the
// clients see their transport close (no DISCONNECT packet, so that they reconnect), as with Node.
async function shutdownReasons(srv) {
  await step('shutdown', async () => {
    const socks = [];
    for (const mode of MODES) socks.push(await connect(`${srv.url}/`, mode));
    const reasons = socks.map((s) => next(s, 'disconnect', 5000));
    await srv.stop();
    const got = [];
    for (const r of reasons) got.push((await r)[0]);
    t.check('shutdown: clients see "transport close" in every mode', got.every((r) => r === 'transport close'), J(got));
    const n = (srv.log().match(/^disconnect \/ \S+ server shutting down$/gm) || []).length;
    t.eq('shutdown: the server reports "server shutting down" for each socket', socks.length, n);
  });
}

// Connection state recovery on sio-conformance --extras --recovery: a broadcast sent while the
// client's transport is down reaches it once it is back, exactly once, in order.
async function recovery(srv) {
  for (const mode of MODES) {
    for (const how of ['server', 'client']) {
      const P = `recovery ${mode.name} (${how} closes the transport)`;
      await step(P, async () => {
        const opts = { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100 };
        const a = await connect(`${srv.url}/`, mode, opts);
        const b = await connect(`${srv.url}/`, MODES[0]);
        try {
          const got = [];
          a.on('all-message', (x) => got.push(x));
          b.emit('to-all', 'before');
          await within(3000, (async () => { while (!got.includes('before')) await sleep(10); })(), 'first broadcast');
          const inRoom = [];
          a.on('room-message', (x) => inRoom.push(J(x)));
          await ask(a, 2000, 'join', 'mine');
          const id = a.id;
          const gone = next(a, 'disconnect', 5000);
          if (how === 'server') a.emit('drop-transport');
          else a.io.engine.close();
          await gone;
          b.emit('to-all', 'm1');
          b.emit('to-room-all', 'mine', Buffer.from([1, 2]));
          b.emit('to-all', 'm2');
          b.emit('to-room-all', 'not-mine', 'x');
          b.emit('to-all', 'm3');
          await next(a, 'connect', 5000);
          await within(3000, (async () => { while (got.length < 4) await sleep(10); })(), 'missed broadcasts').catch(() => {});
          await sleep(100);
          t.check(`${P}: recovered with the same id`, a.recovered === true && a.id === id, `recovered ${a.recovered}, id ${id} -> ${a.id}`);
          t.eq(`${P}: no broadcast lost, none twice`, 'before,m1,m2,m3', got.join());
          t.check(`${P}: a missed broadcast to its room is replayed with its binary, one to another room is not`,
                  same(inRoom, [J(Buffer.from([1, 2]))]), J(inRoom));
          b.emit('to-all', 'after');
          await within(3000, (async () => { while (!got.includes('after')) await sleep(10); })(), 'broadcast after');
          t.ok(`${P}: broadcasts flow after the recovery`);
        } finally {
          a.disconnect();
          b.disconnect();
        }
      });
    }
  }
}

// ---- tincan ---------------------------------------------------------------------------------------

async function tincanClientFile(base) {
  await step('tincan: serves the browser client', async () => {
    const file = readFileSync(join(SRC, 'node_modules', 'socket.io-client', 'dist', 'socket.io.min.js'));
    const r = await http(`${base}/socket.io/socket.io.min.js`);
    t.check('tincan: /socket.io/socket.io.min.js is the npm package\'s file',
            r.status === 200 && /javascript/.test(r.headers.get('content-type')) && r.raw.equals(file),
            `${r.status} ${r.headers.get('content-type')} ${r.raw.length} vs ${file.length}`);
    const etag = r.headers.get('etag');
    const again = await http(`${base}/socket.io/socket.io.min.js`, { headers: { 'If-None-Match': etag } });
    t.eq('tincan: the client file answers 304 to its ETag', 304, again.status);
    const map = await http(`${base}/socket.io/socket.io.min.js.map`);
    let parsed = null;
    try {
      parsed = JSON.parse(map.body);
    } catch {}
    t.check('tincan: its source map is served', map.status === 200 && parsed && parsed.version === 3, `${map.status}`);
    const plain = await http(`${base}/socket.io/socket.io.js`);
    t.eq('tincan: /socket.io/socket.io.js too', 200, plain.status);
    const post = await http(`${base}/socket.io/socket.io.min.js`, { method: 'POST', body: 'x' });
    t.eq('tincan: the client file refuses POST (405)', 405, post.status);
    const eio = await http(`${base}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: 'http://elsewhere.example' } });
    t.check('tincan: Socket.IO handshake works, without CORS headers',
            eio.status === 200 && eio.body.startsWith('0{') && !eio.headers.get('access-control-allow-origin'),
            `${eio.status} ${eio.headers.get('access-control-allow-origin')}`);
  });
}

async function tincanMain(base) {
  for (const mode of MODES) {
    const P = `tincan / ${mode.name}`;
    await step(`${P}: echo and bench`, async () => {
      const a = await connect(`${base}/`, mode);
      const b = await connect(`${base}/`, MODES[0]);
      try {
        a.emit('echo', 1, 'two', { three: [Buffer.from([3])] });
        const back = await next(a, 'echo');
        // With connection state recovery on, a plain emit carries its offset as a last argument.
        t.check(`${P}: echo answers the sender with the same arguments`,
                same(back.slice(0, 3), [1, 'two', { three: [Buffer.from([3])] }]) && (back.length === 3 || typeof back[3] === 'string'), J(back));
        await ask(a, 2000, 'bench:join');
        await ask(b, 2000, 'bench:join');
        const w = Promise.all([a, b].map((s) => gather(s, 'bench:msg', 400)));
        b.emit('bench:fanout', 'hi', 7);
        const [ga, gb] = await w;
        t.check(`${P}: bench:fanout reaches the room "bench", sender included`,
                ga.length === 1 && gb.length === 1 && same(ga[0].slice(0, 2), ['hi', 7]), J([ga, gb]));
      } finally {
        a.disconnect();
        b.disconnect();
      }
    });
  }
}

// The next presence event that pred accepts.
function presence(sock, pred, ms = 3000) {
  let f;
  return within(ms, new Promise((r) => {
    f = (p) => { if (pred(p)) r(p); };
    sock.on('presence', f);
  }), 'waiting for presence').finally(() => sock.off('presence', f));
}

async function chatJoin(sock, room, name) {
  const r = await ask(sock, 3000, 'join', { room, name });
  if (r.err) throw r.err;
  return r.args[0];
}

async function tincanChat(base) {
  const url = `${base}/chat`;
  for (const mode of MODES) {
    const P = `chat ${mode.name}`;
    await step(P, async () => {
      const room = `room-${mode.name}`;
      const a = await connect(url, mode);
      const b = await connect(url, MODES[(MODES.indexOf(mode) + 1) % MODES.length]);
      try {
        const ja = await chatJoin(a, room, 'ada');
        t.check(`${P}: join answers members (the joiner included) and an empty history`,
                same(ja, { members: ['ada'], history: [] }), J(ja));
        const pres = presence(a, (x) => x.joined === 'bob ✓');
        const jb = await chatJoin(b, room, 'bob ✓');
        t.check(`${P}: second join sees both`, same(jb.members, ['ada', 'bob ✓']), J(jb));
        const p = await pres;
        t.check(`${P}: the room hears who joined`, p.room === room && same(p.members, ['ada', 'bob ✓']) && p.joined === 'bob ✓', J(p));

        const inA = next(a, 'chat');
        const inB = next(b, 'chat');
        const r = await ask(a, 3000, 'chat', { text: '  hello "world"\nline two ' });
        t.check(`${P}: chat is acknowledged with {id, ts}`, !r.err && typeof r.args[0].id === 'string' && Number.isInteger(r.args[0].ts) &&
                Math.abs(r.args[0].ts - Date.now()) < 60000, J(r));
        const [ma] = await inA;
        const [mb] = await inB;
        const want = { id: r.args[0].id, room, name: 'ada', text: 'hello "world"\nline two', ts: r.args[0].ts };
        t.check(`${P}: the room gets the message, the sender too`, same(ma, want) && same(mb, want), J([ma, mb]));

        const typing = gather(b, 'typing', 300);
        const selfTyping = gather(a, 'typing', 300);
        a.emit('typing', { typing: true });
        const [tb, ta] = [await typing, await selfTyping];
        t.check(`${P}: typing goes to the others only`, same(tb, [[{ room, name: 'ada', typing: true }]]) && ta.length === 0, J([tb, ta]));

        // A third socket joins and gets the history.
        const c = await connect(url, mode);
        const jc = await chatJoin(c, room, 'cy');
        t.check(`${P}: a late joiner gets the history`, jc.history.length === 1 && same(jc.history[0], want) &&
                same(jc.members, ['ada', 'bob ✓', 'cy']), J(jc));
        // Switching rooms leaves the old one.
        const left = presence(a, (x) => x.left !== undefined);
        await chatJoin(c, `${room}-other`, 'cy');
        const pl = await left;
        t.check(`${P}: joining another room leaves the first`, pl.left === 'cy' && same(pl.members, ['ada', 'bob ✓']), J(pl));
        const gone = presence(a, (x) => x.left === 'bob ✓');
        b.disconnect();
        const pg = await gone;
        t.check(`${P}: disconnecting leaves`, pg.left === 'bob ✓' && same(pg.members, ['ada']), J(pg));
        c.disconnect();
      } finally {
        a.disconnect();
        b.disconnect();
      }
    });
  }

  await step('chat: validation', async () => {
    const s = await connect(url, MODES[0]);
    try {
      const err = async (event, arg) => {
        const r = arg === undefined ? await ask(s, 3000, event) : await ask(s, 3000, event, arg);
        return r.err ? `timeout` : r.args[0] && r.args[0].error;
      };
      const cases = [
        ['chat before join', 'chat', { text: 'x' }, /join a room first/],
        ['typing before join', 'typing', { typing: true }, /join a room first/],
        ['join without arguments', 'join', undefined, /join takes/],
        ['join with a number', 'join', 5, /join takes/],
        ['join without a name', 'join', { room: 'r' }, /name must be a string/],
        ['a name that is a number', 'join', { room: 'r', name: 5 }, /name must be a string/],
        ['an empty name', 'join', { room: 'r', name: '   ' }, /name is empty/],
        ['a name of 33 characters', 'join', { room: 'r', name: 'é'.repeat(33) }, /name is too long/],
        ['a room of 65 characters', 'join', { room: 'x'.repeat(65), name: 'n' }, /room is too long/],
        ['a name with a control character', 'join', { room: 'r', name: 'a\u0007b' }, /control character/],
        ['a room with a line break', 'join', { room: 'a\nb', name: 'n' }, /control character/],
        ['an unknown event', 'what', { x: 1 }, /unknown event/],
      ];
      for (const [desc, ev, arg, re] of cases) {
        const e = await err(ev, arg);
        t.check(`chat: ${desc} gets an error ack`, re.test(e || ''), J(e));
      }
      const ok = await chatJoin(s, 'v', 'é'.repeat(32));
      t.check('chat: a name of exactly 32 characters is fine', same(ok.members, ['é'.repeat(32)]), J(ok));
      const tooLong = await err('chat', { text: 'x'.repeat(2001) });
      t.check('chat: a text of 2001 characters is refused', /text is too long/.test(tooLong || ''), J(tooLong));
      const empty = await err('chat', { text: ' \n ' });
      t.check('chat: an empty text is refused', /text is empty/.test(empty || ''), J(empty));
      const ctl = await err('chat', { text: 'a\u0000b' });
      t.check('chat: a NUL in the text is refused', /control character/.test(ctl || ''), J(ctl));
      const notText = await err('chat', { text: ['x'] });
      t.check('chat: a text that is not a string is refused', /text must be a string/.test(notText || ''), J(notText));
      const bin = await err('chat', { text: Buffer.from('x') });
      t.check('chat: binary where text belongs is refused', /text must be a string/.test(bin || ''), J(bin));
      const r = await ask(s, 3000, 'chat', { text: 'x'.repeat(2000) });
      t.check('chat: a text of exactly 2000 characters is fine', !r.err && typeof r.args[0].id === 'string', J(r.err));
      t.check('chat: the socket is still connected after all that', s.connected);
      // Typing without an ack and bad typing payloads are answered only when asked.
      const bt = await err('typing', { typing: 'yes' });
      t.check('chat: typing with a non-boolean is refused', /typing takes/.test(bt || ''), J(bt));
    } finally {
      s.disconnect();
    }
  });

  await step('chat: history keeps the last 50', async () => {
    const s = await connect(url, MODES[0]);
    const late = await connect(url, MODES[1]);
    try {
      await chatJoin(s, 'history', 'h');
      const ids = [];
      for (let i = 0; i < 55; i++) ids.push((await ask(s, 3000, 'chat', { text: `m${i}` })).args[0].id);
      const j = await chatJoin(late, 'history', 'late');
      const texts = j.history.map((m) => m.text);
      t.check('chat: join gets the last 50 messages, oldest first', j.history.length === 50 && texts[0] === 'm5' && texts[49] === 'm54' &&
              same(j.history.map((m) => m.id), ids.slice(5)), `${j.history.length}: ${texts[0]} .. ${texts[texts.length - 1]}`);
      t.check('chat: ids are unique and timestamps never decrease',
              new Set(ids).size === 55 && j.history.every((m, i) => i === 0 || m.ts >= j.history[i - 1].ts));
    } finally {
      s.disconnect();
      late.disconnect();
    }
  });

  await step('chat: at most 1000 rooms', async () => {
    const s = await connect(url, MODES[0]);
    try {
      // Each room gets a message, so that it outlives its last member; past 1000 rooms the least
      // recently used empty one makes way.
      const tag = Date.now().toString(36);
      for (let i = 0; i < 1005; i++) {
        await chatJoin(s, `many-${tag}-${i}`, 'n');
        await ask(s, 3000, 'chat', { text: `in ${i}` });
      }
      const first = await chatJoin(s, `many-${tag}-0`, 'n');
      const last = await chatJoin(s, `many-${tag}-1004`, 'n');
      t.check('chat: past 1000 rooms the oldest empty room is forgotten, recent ones are kept',
              first.history.length === 0 && last.history.length === 1 && last.history[0].text === 'in 1004',
              `${first.history.length} ${J(last.history)}`);
    } finally {
      s.disconnect();
    }
  });

  for (const mode of MODES) {
    const P = `chat recovery ${mode.name}`;
    await step(P, async () => {
      const room = `rec-${mode.name}`;
      const a = await connect(url, mode, { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100 });
      const b = await connect(url, MODES[0]);
      try {
        await chatJoin(a, room, 'ann');
        await chatJoin(b, room, 'ben');
        const got = [];
        a.on('chat', (m) => got.push(m.text));
        await ask(b, 3000, 'chat', { text: 'm0' });
        await within(3000, (async () => { while (!got.includes('m0')) await sleep(10); })(), 'first message');
        const id = a.id;
        // Every listener is in place before the cut: the server may tell b, and the client may
        // reconnect (50 ms later), before this test gets to look.
        const gone = next(a, 'disconnect', 5000);
        const leftPresence = presence(b, (x) => x.left !== undefined, 5000);
        const back = next(a, 'connect', 5000);
        // Awaited later: until then a timeout must not count as unhandled.
        leftPresence.catch(() => {});
        back.catch(() => {});
        // A network failure: the TCP connection is cut under the WebSocket; polling is closed.
        const tr = a.io.engine.transport;
        if (tr.name === 'websocket' && tr.ws && tr.ws._socket) tr.ws._socket.destroy();
        else a.io.engine.close();
        const [reason] = await gone;
        for (const m of ['m1', 'm2', 'm3']) await ask(b, 3000, 'chat', { text: m });
        await back;
        await within(3000, (async () => { while (got.length < 4) await sleep(10); })(), 'missed messages').catch(() => {});
        await sleep(100);
        t.check(`${P}: the client reconnects and recovers its session (${reason})`, a.recovered === true && a.id === id,
                `recovered ${a.recovered}`);
        t.eq(`${P}: no message lost, none twice`, 'm0,m1,m2,m3', got.join());
        const pl = await leftPresence;
        t.check(`${P}: the room heard it leave`, pl.left === 'ann', J(pl));
        const r = await ask(a, 3000, 'chat', { text: 'back' });
        t.check(`${P}: still in the room after the recovery`, !r.err && !r.args[0].error, J(r.args));
        const jb = await ask(b, 3000, 'join', { room, name: 'ben' });
        t.check(`${P}: and listed in it again`, jb.args[0].members.includes('ann'), J(jb.args[0]));
      } finally {
        a.disconnect();
        b.disconnect();
      }
    });
  }
}

// ---- main -----------------------------------------------------------------------------------------

async function main() {
  let srv = await startConformance();
  try {
    await suite(srv);
    await engineEcho(srv);
  } finally {
    await stopConformance(srv, 'sio-conformance');
  }

  srv = await startConformance(['--extras']);
  try {
    await clientModes(srv);
    await shutdownReasons(srv);
  } finally {
    await stopConformance(srv, 'sio-conformance --extras');
  }

  srv = await startConformance(['--extras', '--recovery']);
  try {
    await recovery(srv);
  } finally {
    await stopConformance(srv, 'sio-conformance --extras --recovery');
  }

  const server = await startTincan({ args: ['--web', join(SRC, 'web')] });
  const base = `http://127.0.0.1:${server.port}`;
  let polling = null;
  try {
    await tincanClientFile(base);
    await tincanMain(base);
    await tincanChat(base);
    // A client still connected over long-polling must not hold up the shutdown.
    polling = await connect(`${base}/chat`, MODES[1]);
  } finally {
    const t0 = Date.now();
    await stopAndCheck(t, server);
    t.check('tincan stops promptly with a long-polling client connected', Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
    if (polling) polling.disconnect();
  }
}

main()
  .catch((e) => t.bad('unexpected error', e.stack))
  .finally(() => {
    t.summary();
    setTimeout(() => process.exit(process.exitCode), 100);
  });
