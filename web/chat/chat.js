// The chat page: the official Socket.IO browser client on tincan's /chat namespace. The events
// are described in README.md next to this file.
//
// Query parameters: transport=polling|websocket (default: polling, then upgrade), name and room
// (fill the form; with both, the page joins at once).
'use strict';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const ACK_TIMEOUT_MS = 10000;
const TYPING_IDLE_MS = 2000; // stop saying "typing" after this long without a keystroke
const TYPING_STALE_MS = 6000; // forget someone's "typing" if no word comes (the event is volatile)
const NOT_JOINED = 'join a room first'; // the server's error for a message from outside a room

const options = {};
if (params.get('transport') === 'polling') options.transports = ['polling'];
else if (params.get('transport') === 'websocket') options.transports = ['websocket'];
if (typeof io !== 'function') {
  // tincan serves the client from the socket.io-client npm package (`npm ci` installs it).
  $('state').textContent = 'The Socket.IO client did not load (/socket.io/socket.io.min.js).';
  $('state').dataset.state = 'disconnected';
  $('join-button').disabled = true;
  throw new Error('socket.io client missing');
}
const socket = io('/chat', options);

// What this page has joined: {room, name}, or null.
let joined = null;
// Messages on screen by id, and the ones sent but not yet acknowledged, oldest first.
const shown = new Map();
let pending = [];
let typingSent = false;
let typingTimer = 0;
const typers = new Map(); // name -> timer that forgets them

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function clock(ts) {
  const d = new Date(ts);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function scrollDown() {
  const list = $('messages');
  list.scrollTop = list.scrollHeight;
}

// ---- connection state ----------------------------------------------------------------------------

function setState(state, text) {
  $('state').dataset.state = state;
  $('state').textContent = text;
  const engine = socket.io.engine;
  $('transport').textContent = state === 'connected' && engine ? `over ${engine.transport.name}` : '';
  $('transport').dataset.transport = state === 'connected' && engine ? engine.transport.name : '';
}

socket.on('connect', () => {
  setState('connected', socket.recovered ? 'Connected again (nothing missed)' : 'Connected');
  socket.io.engine.once('upgrade', () => setState('connected', $('state').textContent));
  // A recovered session is still in its room and has been sent what it missed. Otherwise the
  // server has forgotten us: join again and fill the gap from the room's history.
  if (joined && !socket.recovered) join(joined.room, joined.name, false);
  else if (!joined && params.get('name') && params.get('room') && !$('name').dataset.tried) {
    $('name').dataset.tried = '1';
    join(params.get('room'), params.get('name'), true);
  }
});

socket.on('disconnect', (reason) => {
  setState('disconnected', `Disconnected (${reason}), reconnecting…`);
  // Only a disconnection the server asked for stops the client's own reconnection.
  if (reason === 'io server disconnect') socket.connect();
});

socket.on('connect_error', (err) => {
  setState('disconnected', `Cannot connect (${err.message}), retrying…`);
});

// ---- joining -------------------------------------------------------------------------------------

function showMembers(members) {
  const list = $('members');
  list.replaceChildren();
  const names = [...members].sort((a, b) => a.localeCompare(b));
  for (const name of names) {
    const li = el('li', name === joined?.name ? 'me' : '', name);
    list.append(li);
  }
  // Whoever is gone has stopped typing.
  for (const name of [...typers.keys()]) if (!members.includes(name)) setTyping(name, false);
}

// The server trims names and rooms of these characters only; so must we, to know our own name.
const trim = (s) => s.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, '');

function join(room, name, fresh) {
  room = trim(room);
  name = trim(name);
  $('join-error').textContent = '';
  $('join-button').disabled = true;
  socket.timeout(ACK_TIMEOUT_MS).emit('join', { room, name }, (err, res) => {
    $('join-button').disabled = false;
    if (err || res?.error) {
      $('join-error').textContent = err ? 'The server did not answer; try again.' : res.error;
      return;
    }
    const changed = !joined || joined.room !== room;
    joined = { room, name };
    localStorage.setItem('tincan-chat-name', name);
    if (changed || fresh) {
      shown.clear();
      pending = [];
      $('messages').replaceChildren();
      typers.clear();
      $('typing').textContent = '';
    }
    $('room-title').textContent = `# ${room}`;
    $('chat').hidden = false;
    document.title = `${room}: tincan chat`;
    history.replaceState(null, '', `?${new URLSearchParams({ ...Object.fromEntries(params), room, name })}`);
    showMembers(res.members);
    // After a reconnection only the messages not on screen yet are added, and what was sent
    // before the page was back in its room goes now.
    for (const msg of res.history) addMessage(msg);
    for (const p of pending) if (p.retry) transmit(p);
    if (changed) notice(`You joined ${room} as ${name}.`);
    $('text').focus();
  });
}

$('join').addEventListener('submit', (e) => {
  e.preventDefault();
  join($('room').value, $('name').value, true);
});

// ---- messages ------------------------------------------------------------------------------------

function notice(text) {
  $('messages').append(el('li', 'notice', text));
  scrollDown();
}

function tick(li, state, title) {
  const t = li.querySelector('.tick');
  t.dataset.state = state;
  t.textContent = { sending: '…', delivered: '✓', failed: '!' }[state];
  t.title = title;
}

function messageItem(name, text, ts, mine) {
  const li = el('li', mine ? 'msg mine' : 'msg');
  const head = el('div', 'head');
  head.append(el('span', 'name', name), el('time', 'time', ts ? clock(ts) : ''));
  if (mine) head.append(el('span', 'tick'));
  li.append(head, el('div', 'text', text));
  return li;
}

function addMessage(msg) {
  if (shown.has(msg.id)) return;
  // Our own message may arrive before its acknowledgement (after a reconnection, for instance):
  // it is the oldest pending one with the same text.
  const mine = joined && msg.name === joined.name;
  const p = mine ? pending.find((x) => x.text === msg.text) : null;
  if (p) {
    acknowledged(p, msg.id, msg.ts);
    return;
  }
  const li = messageItem(msg.name, msg.text, msg.ts, mine);
  li.dataset.id = msg.id;
  if (mine) tick(li, 'delivered', 'Delivered');
  shown.set(msg.id, li);
  $('messages').append(li);
  setTyping(msg.name, false);
  scrollDown();
}

function acknowledged(p, id, ts) {
  pending = pending.filter((x) => x !== p);
  if (shown.has(id)) return;
  p.li.dataset.id = id;
  p.li.querySelector('.time').textContent = clock(ts);
  tick(p.li, 'delivered', 'Delivered');
  shown.set(id, p.li);
}

function send(text) {
  const li = messageItem(joined.name, text, 0, true);
  const p = { text, li };
  pending.push(p);
  $('messages').append(li);
  scrollDown();
  transmit(p);
}

function transmit(p) {
  tick(p.li, 'sending', 'Sending');
  p.retry = false;
  socket.timeout(ACK_TIMEOUT_MS).emit('chat', { text: p.text }, (err, res) => {
    if (!pending.includes(p)) return; // its broadcast came first
    if (res?.error === NOT_JOINED && joined) {
      // Sent on reconnection before the page joined again: it goes once it has.
      p.retry = true;
      return;
    }
    if (err || res?.error) {
      // A timeout may only mean the answer was lost with the connection: the message may
      // still be in the room, and then its broadcast marks it delivered. Click to send again.
      tick(p.li, 'failed', err ? 'No answer from the server: click to send again' : res.error);
      if (res?.error) $('send-error').textContent = res.error;
      return;
    }
    acknowledged(p, res.id, res.ts);
  });
}

$('messages').addEventListener('click', (e) => {
  const t = e.target.closest('.tick[data-state="failed"]');
  if (!t || !joined) return;
  const p = pending.find((x) => x.li.contains(t));
  if (!p) return;
  $('send-error').textContent = '';
  $('messages').append(p.li);
  transmit(p);
});

socket.on('chat', (msg) => {
  if (joined && msg.room === joined.room) addMessage(msg);
});

$('compose').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = trim($('text').value);
  if (!text || !joined) return;
  $('send-error').textContent = '';
  $('text').value = '';
  stopTyping();
  send(text);
});

$('text').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $('compose').requestSubmit();
  }
});

// ---- presence and typing -------------------------------------------------------------------------

socket.on('presence', (p) => {
  if (!joined || p.room !== joined.room) return;
  showMembers(p.members);
  if (p.joined !== undefined && p.joined !== joined.name) notice(`${p.joined} joined`);
  if (p.left !== undefined) notice(`${p.left} left`);
});

function showTypers() {
  const names = [...typers.keys()];
  $('typing').textContent = !names.length ? ''
    : names.length === 1 ? `${names[0]} is typing…`
    : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]} are typing…`;
}

function setTyping(name, on) {
  clearTimeout(typers.get(name));
  typers.delete(name);
  if (on) typers.set(name, setTimeout(() => setTyping(name, false), TYPING_STALE_MS));
  showTypers();
}

socket.on('typing', (t) => {
  if (joined && t.room === joined.room) setTyping(t.name, t.typing);
});

function stopTyping() {
  clearTimeout(typingTimer);
  if (typingSent && socket.connected) socket.emit('typing', { typing: false });
  typingSent = false;
}

$('text').addEventListener('input', () => {
  if (!joined) return;
  if (!$('text').value) {
    stopTyping();
    return;
  }
  if (!typingSent && socket.connected) {
    socket.emit('typing', { typing: true });
    typingSent = true;
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
});

// ---- start ---------------------------------------------------------------------------------------

$('name').value = params.get('name') || localStorage.getItem('tincan-chat-name') || '';
if (params.get('room')) $('room').value = params.get('room');
setState('connecting', 'Connecting…');
