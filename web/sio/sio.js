// The Socket.IO packet view: the official client (served by tincan at /socket.io/socket.io.min.js)
// on tincan's main namespace "/", with every Engine.IO packet shown as it crosses.
//
// Incoming packets come from the Engine.IO socket's "packet" event, outgoing ones from its
// "packetCreate" event. The probe of an upgrade (2probe, 3probe, 5) travels on the new transport
// before the socket has taken it over, so no socket event reports it: the page also watches the
// transports the socket creates for probing. Reconnecting makes a new Engine.IO socket, which is
// watched from its first packet on.
//
// Query parameter: transport=polling|websocket (default: polling, then the upgrade).
'use strict';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const MODE = ['polling', 'websocket'].includes(params.get('transport')) ? params.get('transport') : '';
const ACK_TIMEOUT_MS = 5000;

const EIO_TYPES = { open: 0, close: 1, ping: 2, pong: 3, message: 4, upgrade: 5, noop: 6 };
const EIO_MEANING = {
  open: 'the handshake: session id, upgrades, heartbeat timing, largest payload',
  close: 'the transport is closed',
  ping: 'heartbeat',
  pong: 'heartbeat answer',
  message: 'carries one Socket.IO packet (or an attachment)',
  upgrade: 'from now on, only this transport',
  noop: 'nothing: releases a waiting long-poll',
};
const SIO_TYPES = ['CONNECT', 'DISCONNECT', 'EVENT', 'ACK', 'CONNECT_ERROR', 'BINARY_EVENT', 'BINARY_ACK'];

const t0 = performance.now();
const watched = new WeakSet();
// Per direction: the binary packet whose attachments are still to come, {left, total}, or null.
const attachments = { in: null, out: null };
let recovery = false; // tincan's CONNECT answer carried a pid: its events end with an offset
let probing = null; // the transport being upgraded to, between "upgrading" and "upgrade"

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function clock() {
  return ((performance.now() - t0) / 1000).toFixed(3) + ' s';
}

function tpBadge(name) {
  return el('span', 'tp tp-' + name, name);
}

// After a send, the rows it causes are scrolled into view for a moment; otherwise the page stays
// where the reader put it.
let followUntil = 0;
function add(li) {
  $('packets').append(li);
  if (performance.now() < followUntil) li.scrollIntoView({ block: 'nearest' });
}

function isBinary(data) {
  return data instanceof ArrayBuffer || ArrayBuffer.isView(data);
}

function bytesOf(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function hex(bytes) {
  const shown = Array.from(bytes.subarray(0, 48), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return bytes.length > 48 ? `${shown} … (${bytes.length} bytes)` : shown;
}

function base64(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

// ---- decoding -----------------------------------------------------------------------------------

// A Socket.IO packet's text (the Engine.IO message without its "4"):
// <type>[<attachments>-][<namespace>,][<ack id>][<JSON>].
function decodeSio(s) {
  const p = { type: Number(s[0]), attachments: 0, nsp: '/', id: '', json: '', data: undefined };
  if (!(p.type >= 0 && p.type <= 6)) return null;
  let i = 1;
  if (p.type === 5 || p.type === 6) {
    const dash = s.indexOf('-', i);
    if (dash < 0) return null;
    p.attachments = Number(s.slice(i, dash));
    i = dash + 1;
  }
  if (s[i] === '/') {
    const comma = s.indexOf(',', i);
    p.nsp = comma < 0 ? s.slice(i) : s.slice(i, comma);
    i = comma < 0 ? s.length : comma + 1;
  }
  while (i < s.length && s[i] >= '0' && s[i] <= '9') p.id += s[i++];
  p.json = s.slice(i);
  if (p.json) {
    try {
      p.data = JSON.parse(p.json);
    } catch (e) {
      return null;
    }
  }
  return p;
}

function short(v) {
  const s = JSON.stringify(v);
  return s && s.length > 60 ? s.slice(0, 57) + '…' : s;
}

// What a Socket.IO packet says, in words.
function explainSio(p, dir) {
  const d = p.data;
  switch (p.type) {
    case 0:
      if (dir === 'out') {
        if (d && d.pid) {
          return `join ${p.nsp}, asking to recover session ${d.pid}` +
            (d.offset ? ` from offset ${d.offset}` : '') + ' (connection state recovery)';
        }
        return d ? `join ${p.nsp} with auth ${short(d)}` : `join the namespace ${p.nsp}`;
      }
      if (d && d.pid) recovery = true;
      return `joined ${p.nsp} as socket ${d && d.sid}` +
        (d && d.pid ? `; ${d.pid} is the private id for connection state recovery` : '');
    case 1:
      return `leave ${p.nsp}`;
    case 2:
    case 5: {
      if (!Array.isArray(d) || !d.length) return 'an event without a name';
      let s = `event ${short(d[0])} on ${p.nsp}`;
      s += p.id ? `, acknowledgement id ${p.id}` : ', no acknowledgement asked';
      if (p.type === 5) {
        s += p.attachments === 1
          ? '; 1 binary attachment follows as a packet of its own, in place of {"_placeholder":true,"num":0}'
          : `; ${p.attachments} binary attachments follow as packets of their own, each in place of ` +
            'a {"_placeholder":true,"num":N}';
      }
      const last = d[d.length - 1];
      if (dir === 'in' && recovery && d.length > 1 && typeof last === 'string') {
        s += `; the last argument, "${last}", is tincan's offset for connection state recovery`;
      }
      return s;
    }
    case 3:
    case 6:
      return `acknowledges id ${p.id} on ${p.nsp} with ${short(d)}` +
        (p.type === 6 ? ` and ${p.attachments} attachment(s)` : '');
    case 4:
      return `refused on ${p.nsp}: ${d && typeof d === 'object' ? short(d.message) : short(d)}`;
    default:
      return '';
  }
}

// ---- the packet list ----------------------------------------------------------------------------

// One Engine.IO packet as it crossed: its wire form, its Engine.IO type and, for a message, the
// Socket.IO packet inside or the attachment it is.
function showPacket(dir, packet, transport, held) {
  const type = EIO_TYPES[packet.type];
  const li = el('li', `pkt ${dir}`);
  li.dataset.dir = dir;
  li.dataset.transport = transport;
  const head = el('p', 'pkt-head');
  head.append(el('span', 'dir', dir === 'in' ? '← tincan to browser' : '→ browser to tincan'),
              tpBadge(transport), el('span', 'when', clock()));
  if (held) head.append(el('span', 'muted', 'queued while the upgrade completes'));
  li.append(head);

  const binary = isBinary(packet.data);
  const raw = binary ? bytesOf(packet.data) : null;
  let wire;
  if (binary) {
    wire = transport === 'polling' ? 'b' + base64(raw) : '(binary frame) ' + hex(raw);
  } else {
    wire = String(type) + (packet.data === undefined || packet.data === null ? '' : String(packet.data));
  }
  li.append(el('code', 'wire', wire));

  const info = el('p', 'pkt-info');
  let meaning = EIO_MEANING[packet.type] || '';
  if (binary) meaning = 'binary data: no type digit in a WebSocket frame, "b" in a polling body';
  else if (packet.type === 'ping' && packet.data === 'probe') {
    meaning = 'with "probe" as data, on the new transport: does it reach the session?';
  } else if (packet.type === 'pong' && packet.data === 'probe') {
    meaning = 'with "probe" as data: tincan answers the probe, the WebSocket works';
  }
  info.append(el('span', 'eio', `${binary ? 'binary' : type} ${packet.type}`), document.createTextNode(meaning));
  li.append(info);

  if (packet.type === 'message') {
    const sub = el('p', 'pkt-info');
    const pending = attachments[dir];
    if (binary) {
      if (pending) {
        pending.left--;
        sub.append(el('span', 'sio', 'attachment'),
                   document.createTextNode(`${pending.total - pending.left} of ${pending.total}, ` +
                     (transport === 'polling' ? 'as "b" plus base64 in the polling body: '
                       : 'as a binary WebSocket frame with no type digit: ') + hex(raw)));
        if (!pending.left) attachments[dir] = null;
      } else {
        sub.append(document.createTextNode('binary data outside a Socket.IO packet'));
      }
    } else {
      const p = decodeSio(String(packet.data));
      if (p) {
        sub.append(el('span', 'sio', `${p.type} ${SIO_TYPES[p.type]}`),
                   document.createTextNode(explainSio(p, dir)));
        if (p.attachments) attachments[dir] = { left: p.attachments, total: p.attachments };
      } else {
        sub.append(document.createTextNode('not a Socket.IO packet'));
      }
    }
    li.append(sub);
  }
  add(li);
}

// A line about the connection rather than a packet: an upgrade, what the application got.
function note(text, cls) {
  const li = el('li', 'note' + (cls ? ' ' + cls : ''));
  li.append(el('span', 'when', clock()), document.createTextNode(text));
  add(li);
}

// ---- watching the Engine.IO socket --------------------------------------------------------------

// Shows the probe packets, which cross on a transport before the socket takes it over.
function watchProbes(engine) {
  const create = engine.createTransport;
  if (typeof create !== 'function') return;
  engine.createTransport = function (name) {
    const t = create.apply(this, arguments);
    t.on('packet', (p) => {
      if (p.type === 'pong' && p.data === 'probe') showPacket('in', p, t.name);
    });
    const send = t.send;
    t.send = function (packets) {
      for (const p of packets) {
        if ((p.type === 'ping' && p.data === 'probe') || p.type === 'upgrade') showPacket('out', p, t.name);
      }
      return send.apply(this, arguments);
    };
    return t;
  };
}

function watchEngine(engine) {
  if (!engine || watched.has(engine)) return;
  watched.add(engine);
  attachments.in = attachments.out = null;
  probing = null;
  engine.on('packet', (p) => showPacket('in', p, engine.transport ? engine.transport.name : '?'));
  engine.on('packetCreate', (p) => {
    const held = engine.upgrading && probing;
    showPacket('out', p, held ? probing : engine.transport.name, held);
  });
  engine.on('upgrading', (t) => {
    probing = t.name;
    note(`The ${t.name} answered the probe. The client pauses polling: the waiting GET must ` +
         'come back first, and tincan ends it at once with a noop (6).', 'upgrade');
  });
  engine.on('upgrade', (t) => {
    probing = null;
    note(`Upgraded: the session now runs over ${t.name}, and polling has stopped.`, 'upgrade');
    showState();
  });
  engine.on('upgradeError', (e) => note(`The upgrade failed (${e.message}); the session stays on polling.`, 'warn'));
  engine.on('close', (reason) => note(`The Engine.IO session ended: ${reason}.`, 'warn'));
  watchProbes(engine);
}

// ---- the page -----------------------------------------------------------------------------------

function showState() {
  const connected = socket.connected;
  $('state').dataset.state = connected ? 'connected' : 'disconnected';
  const engine = socket.io.engine;
  const tp = $('transport');
  tp.hidden = !connected || !engine;
  if (connected && engine) {
    tp.textContent = engine.transport.name;
    tp.className = 'tp tp-' + engine.transport.name;
    $('ids').textContent = `socket ${socket.id} in "/", Engine.IO session ${engine.id}`;
  } else {
    $('ids').textContent = '';
  }
  for (const id of ['text', 'send-button', 'drop']) $(id).disabled = !connected;
}

function showArgs(args) {
  return args.map((a) => (isBinary(a) ? `<${bytesOf(a).length} bytes: ${hex(bytesOf(a))}>` : JSON.stringify(a)))
    .join(', ');
}

for (const [id, mode] of [['mode-default', ''], ['mode-polling', 'polling'], ['mode-websocket', 'websocket']]) {
  if (mode === MODE) $(id).setAttribute('aria-current', 'page');
}

if (typeof io !== 'function') {
  // tincan serves the client from the socket.io-client npm package (`npm ci` installs it).
  $('state').textContent = 'The Socket.IO client did not load (/socket.io/socket.io.min.js).';
  $('state').dataset.state = 'disconnected';
  throw new Error('socket.io client missing');
}

const options = MODE ? { transports: [MODE] } : {};
const socket = io('/', options);
watchEngine(socket.io.engine);
// A reconnection opens a new Engine.IO socket right after this event, before any packet of it can
// arrive: a microtask is in time to watch it from its open packet on.
socket.io.on('reconnect_attempt', (n) => {
  note(`Reconnecting (attempt ${n}).`);
  queueMicrotask(() => watchEngine(socket.io.engine));
});

socket.on('connect', () => {
  $('state').textContent = socket.recovered ? 'Connected again, session recovered' : 'Connected';
  note(socket.recovered ? 'The application sees "connect", with socket.recovered true: the same ' +
       'socket id, and whatever tincan sent meanwhile replayed before the CONNECT answer.'
    : 'The application sees "connect".', 'app');
  showState();
});
socket.on('disconnect', (reason) => {
  $('state').textContent = `Disconnected (${reason})`;
  note(`The application sees "disconnect" (${reason}).`, 'app');
  showState();
});
socket.on('connect_error', (err) => {
  $('state').textContent = `Cannot connect (${err.message}), retrying…`;
  $('state').dataset.state = 'disconnected';
});
socket.on('echo', (...args) => note(`The application's echo handler gets: ${showArgs(args)}.`, 'app'));

$('send').addEventListener('submit', (ev) => {
  ev.preventDefault();
  followUntil = performance.now() + 2000;
  const text = $('text').value;
  const args = [text];
  if ($('binary').checked) args.push(new TextEncoder().encode(text));
  if ($('ack').checked) {
    socket.timeout(ACK_TIMEOUT_MS).emit('echo', ...args, (err, ...reply) => {
      if (err) {
        note(`No acknowledgement within ${ACK_TIMEOUT_MS / 1000} s: tincan's echo handler answers ` +
             'with an echo event, not with an ACK packet.', 'warn');
      } else {
        note(`Acknowledged with: ${showArgs(reply)}.`, 'app');
      }
    });
  } else {
    socket.emit('echo', ...args);
  }
});
$('drop').addEventListener('click', () => {
  note('Dropping the connection: the client closes its transport without leaving the namespace.', 'warn');
  socket.io.engine.close();
});
$('clear').addEventListener('click', () => $('packets').replaceChildren());
