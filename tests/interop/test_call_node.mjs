// The call's signaling on /call (web/call/README.md) against the official Node client,
// socket.io-client 4.8, over WebSocket and over long-polling: joins and their peer lists,
// peer-joined / peer-left, offer / answer / candidate relayed to the one named peer only and never
// across rooms, the mesh limit, leave and disconnect, and bad input.
//
// Env: TINCAN_BIN, TINCAN_SRC. Prints one line per check; exits non-zero on a failure.

import { io } from 'socket.io-client';
import { checklist, sleep, startTincan, stopAndCheck, watchdog, within } from './lib.mjs';

const t = checklist();
watchdog(120000);
const J = JSON.stringify;

const MODES = [
  { name: 'websocket', opts: { transports: ['websocket'] } },
  { name: 'polling', opts: { transports: ['polling'] } },
];

const sockets = [];
function connect(base, mode) {
  const s = io(`${base}/call`, { ...mode.opts, reconnection: false, forceNew: true });
  sockets.push(s);
  s.got = [];
  s.onAny((event, ...args) => s.got.push({ event, args }));
  return within(5000, new Promise((res, rej) => {
    s.once('connect', () => res(s));
    s.once('connect_error', rej);
  }), 'connect');
}

const ask = (s, ...args) => within(5000, s.emitWithAck(...args), `ack of ${args[0]}`);

// Waits until s has received event (matching pred); returns its first argument.
async function next(s, event, pred = () => true, ms = 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const i = s.got.findIndex((g) => g.event === event && pred(g.args[0]));
    if (i >= 0) return s.got.splice(i, 1)[0].args[0];
    if (Date.now() > deadline) throw new Error(`no ${event} in ${ms} ms; got ${J(s.got)}`);
    await sleep(20);
  }
}

async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    t.bad(name, e.stack || String(e));
  }
}

async function signaling(base, mode, limit) {
  const P = `call ${mode.name}`;
  const room = `r-${mode.name}`;
  await step(`${P}: join, relay and leave`, async () => {
    const [a, b, c, d] = await Promise.all([0, 1, 2, 3].map(() => connect(base, mode)));
    const ja = await ask(a, 'join', { room, name: 'ada' });
    t.check(`${P}: the first joiner gets its id and no peers`, ja.id === a.id && J(ja.peers) === '[]', J(ja));
    const jb = await ask(b, 'join', { room, name: ' bob ✓ ' });
    t.eq(`${P}: the second joiner gets the first as a peer`, J([{ id: a.id, name: 'ada' }]), J(jb.peers));
    const pj = await next(a, 'peer-joined');
    t.eq(`${P}: the first hears of the second (name trimmed)`, J({ id: b.id, name: 'bob ✓' }), J(pj));
    const jc = await ask(c, 'join', { room, name: 'cy' });
    t.eq(`${P}: peers come in the order they joined`, J([a.id, b.id]), J(jc.peers.map((p) => p.id)));
    await next(a, 'peer-joined', (x) => x.id === c.id);
    await next(b, 'peer-joined', (x) => x.id === c.id);
    t.check(`${P}: a joiner hears nothing of its own join`, !c.got.some((g) => g.event === 'peer-joined'), J(c.got));
    await ask(d, 'join', { room: `${room}-other`, name: 'dee' });

    const sdp = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
    t.eq(`${P}: an offer to a peer of the room is acknowledged`, '{}', J(await ask(a, 'offer', { to: b.id, sdp })));
    t.eq(`${P}: the offer reaches that peer with its sender`, J({ from: a.id, sdp }), J(await next(b, 'offer')));
    t.eq(`${P}: answer relayed`, '{}', J(await ask(b, 'answer', { to: a.id, sdp })));
    t.eq(`${P}: the answer reaches the offerer`, J({ from: b.id, sdp }), J(await next(a, 'answer')));
    const cand = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'abcd' };
    await ask(a, 'candidate', { to: b.id, candidate: cand });
    t.eq(`${P}: a candidate reaches the peer unchanged`, J({ from: a.id, candidate: cand }), J(await next(b, 'candidate')));
    await ask(a, 'candidate', { to: b.id, candidate: null });
    t.eq(`${P}: the end of candidates (null) is relayed`, J({ from: a.id, candidate: null }), J(await next(b, 'candidate')));
    a.emit('offer', { to: b.id, sdp: 'x' }); // no ack asked: relayed all the same
    await next(b, 'offer', (x) => x.sdp === 'x');

    const across = await ask(a, 'offer', { to: d.id, sdp });
    t.eq(`${P}: an offer to a peer of another room is refused`, 'not-in-room', across.code);
    const unknown = await ask(a, 'candidate', { to: 'no-such-socket-id', candidate: cand });
    t.eq(`${P}: a message to an unknown id is refused`, 'not-in-room', unknown.code);
    const self = await ask(a, 'offer', { to: a.id, sdp });
    t.eq(`${P}: a message to oneself is refused`, 'not-in-room', self.code);
    await sleep(300);
    t.check(`${P}: the other room received nothing`, !d.got.some((g) => ['offer', 'answer', 'candidate'].includes(g.event)), J(d.got));
    t.check(`${P}: the third peer received nothing meant for another`, !c.got.some((g) => ['offer', 'answer', 'candidate'].includes(g.event)), J(c.got));

    t.eq(`${P}: leave is acknowledged`, '{}', J(await ask(c, 'leave', {})));
    t.eq(`${P}: the others hear who left`, J({ id: c.id }), J(await next(a, 'peer-left')));
    await next(b, 'peer-left', (x) => x.id === c.id);
    const afterLeave = await ask(c, 'offer', { to: a.id, sdp });
    t.eq(`${P}: a socket that left relays nothing`, 'not-in-room', afterLeave.code);
    // Moving to another room is a leave for the first.
    await ask(b, 'join', { room: `${room}-other`, name: 'bob' });
    t.eq(`${P}: joining another room is a leave for the first`, J({ id: b.id }), J(await next(a, 'peer-left')));
    t.eq(`${P}: and a join for the second`, J({ id: b.id, name: 'bob' }), J(await next(d, 'peer-joined')));
    const did = d.id;
    d.disconnect();
    t.eq(`${P}: a disconnect is a leave`, J({ id: did }), J(await next(b, 'peer-left')));
    for (const s of [a, b, c]) s.disconnect();
  });

  await step(`${P}: the mesh limit`, async () => {
    const full = `${room}-full`;
    const peers = await Promise.all(Array.from({ length: limit + 1 }, () => connect(base, mode)));
    for (let i = 0; i < limit; i++) {
      const r = await ask(peers[i], 'join', { room: full, name: `p${i}` });
      if (r.error) throw new Error(`join ${i}: ${J(r)}`);
    }
    const last = peers[limit];
    await ask(last, 'join', { room: `${full}-elsewhere`, name: 'x' });
    const r = await ask(last, 'join', { room: full, name: 'late' });
    t.check(`${P}: joiner ${limit + 1} of a room of ${limit} is refused with code "full"`, r.code === 'full' && typeof r.error === 'string', J(r));
    await sleep(200);
    t.check(`${P}: nobody in the full room hears of the refused joiner`, !peers[0].got.some((g) => g.event === 'peer-joined' && g.args[0].name === 'late'), J(peers[0].got));
    const there = await ask(last, 'offer', { to: peers[0].id, sdp: 'v=0' });
    t.eq(`${P}: the refused joiner stays in its room, outside the full one`, 'not-in-room', there.code);
    await ask(peers[0], 'leave', {});
    const again = await ask(last, 'join', { room: full, name: 'late' });
    t.eq(`${P}: once someone leaves, there is room again`, limit - 1, again.peers && again.peers.length);
    for (const s of peers) s.disconnect();
  });
}

async function badInput(base) {
  await step('call: bad input', async () => {
    const s = await connect(base, MODES[0]);
    const cases = [
      ['join without arguments', ['join'], 'bad-request'],
      ['join with a number for room', ['join', { room: 5, name: 'a' }], 'bad-request'],
      ['join with an empty name', ['join', { room: 'r', name: '  ' }], 'bad-request'],
      ['join with a 33-character name', ['join', { room: 'r', name: 'n'.repeat(33) }], 'bad-request'],
      ['join with a 65-character room', ['join', { room: 'r'.repeat(65), name: 'a' }], 'bad-request'],
      ['join with a control character', ['join', { room: 'r\u0007', name: 'a' }], 'bad-request'],
      ['offer before joining', ['offer', { to: 'x', sdp: 'v=0' }], 'not-in-room'],
      ['offer without to', ['offer', { sdp: 'v=0' }], 'bad-request'],
      ['offer with an object for sdp', ['offer', { to: 'x', sdp: {} }], 'bad-request'],
      ['candidate with a string', ['candidate', { to: 'x', candidate: 'c' }], 'bad-request'],
      ['an SDP over 64 KiB', ['answer', { to: 'x', sdp: 'a'.repeat(65537) }], 'bad-request'],
      ['an unknown event', ['dance', {}], 'unknown-event'],
    ];
    for (const [desc, args, code] of cases) {
      const r = await ask(s, ...args);
      t.check(`call: ${desc} gets an error with code ${code}`, r && r.code === code && typeof r.error === 'string', J(r));
    }
    const ok = await ask(s, 'join', { room: 'r', name: 'é'.repeat(32) });
    t.check('call: after bad input the socket still works', ok.id === s.id, J(ok));
    s.disconnect();
  });
}

// The default mesh limit: six in a room, the seventh refused.
async function defaultLimit(base) {
  await step('call: the default limit', async () => {
    const peers = await Promise.all(Array.from({ length: 7 }, () => connect(base, MODES[0])));
    const answers = [];
    for (let i = 0; i < 7; i++) answers.push(await ask(peers[i], 'join', { room: 'six', name: `p${i}` }));
    t.check('call: six join a room by default', answers.slice(0, 6).every((a) => a.id && a.peers), J(answers));
    t.eq('call: the seventh is refused with code "full"', 'full', answers[6].code);
    for (const s of peers) s.disconnect();
  });
}

const limit = 3;
const server = await startTincan({ args: ['--no-stun', '--call-limit', String(limit)] });
const base = `http://127.0.0.1:${server.port}`;
try {
  for (const mode of MODES) await signaling(base, mode, limit);
  await badInput(base);
} finally {
  for (const s of sockets) s.disconnect();
  await sleep(100);
  await stopAndCheck(t, server);
}
const plain = await startTincan({ args: ['--no-stun'] });
try {
  await defaultLimit(`http://127.0.0.1:${plain.port}`);
} finally {
  for (const s of sockets) s.disconnect();
  await sleep(100);
  await stopAndCheck(t, plain, 'tincan with the default limit');
  t.summary();
}
