// The video call page: the official Socket.IO browser client on tincan's /call namespace carries
// the signaling (README.md next to this file), and one RTCPeerConnection per other participant
// carries the media, straight between the browsers.
//
// Query parameters: room (join it at once; without it the page shows a form), name, and
// transport=polling|websocket (default: polling, then upgrade).
//
// window.callState and window.callStats() show what the page is doing, for the browser tests
// and for anyone curious in the developer console.
'use strict';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const ACK_TIMEOUT_MS = 10000;
const NAME_KEY = 'tincan-call-name';
const POLITE_WAIT_MS = 1000; // see negotiate()

const callState = {
  id: null, // this page's socket id, from the join acknowledgement
  room: null,
  name: null,
  joined: false,
  media: [], // kinds of the local tracks: 'audio', 'video'
  mic: false, // whether each is sending (a muted microphone sends silence)
  camera: false,
  // socket id -> {name, polite, state (connectionState), ice (iceConnectionState), gathering
  // (iceGatheringState), candidatesSent, candidatesAdded}
  peers: {},
  ended: {}, // socket id -> {name, reason, signalingState} of connections closed
  glare: { ignored: 0, rolledBack: 0 }, // offers that crossed one of ours, by what we did
};
window.callState = callState;

const peers = new Map(); // socket id -> {id, name, pc, polite, makingOffer, ignoreOffer, ...}
let socket = null;
let localStream = new MediaStream();
let iceServers = [];
let wanted = null; // {room, name} while the page means to be in the call
let joinSeq = 0; // numbers join attempts, so that a late acknowledgement is ignored
let joinPending = false;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function link(text, href) {
  const a = el('a', 'button', text);
  a.href = href;
  return a;
}

function button(text, onClick) {
  const b = el('button', '', text);
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

function callUrl(room, name) {
  const q = new URLSearchParams({ room, name });
  if (params.get('transport')) q.set('transport', params.get('transport'));
  return `?${q}`;
}

// ---- messages ------------------------------------------------------------------------------------

function setState(state, text) {
  $('state').dataset.state = state;
  $('state').textContent = text;
}

// One message at a time, above the call, with what can be done about it.
function showNotice(kind, text, actions = []) {
  $('notice').dataset.kind = kind;
  $('notice-text').textContent = text;
  $('notice-actions').replaceChildren(...actions);
  $('notice').hidden = false;
}

function hideNotice() {
  $('notice').hidden = true;
  $('notice').dataset.kind = '';
}

// A line under the tiles about comings and goings.
function say(text) {
  $('events').textContent = text;
}

function updateAlone() {
  $('alone').hidden = peers.size > 0;
  $('tiles').dataset.count = String(peers.size + 1);
}

// ---- local media ---------------------------------------------------------------------------------

// What went wrong, for a person: which is 'all' (camera and microphone) or 'audio'.
function mediaError(err, which) {
  const both = which === 'audio' ? 'the microphone' : 'the camera and microphone';
  const either = which === 'audio' ? 'microphone' : 'camera or microphone';
  switch (err.name) {
    case 'NotAllowedError':
      return `Access to ${both} was refused. Allow it for this site in the browser (the icon ` +
        'beside the address) and try again, or join without: you will still see and hear the others.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${either} was found on this device.`;
    case 'NotReadableError':
    case 'AbortError':
      return `The ${either} could not be started: another program may be using it.`;
    default:
      return `The ${either} could not be started (${err.name}: ${err.message}).`;
  }
}

// Resolves to a MediaStream with what was asked for (which may be nothing), or null once the
// failure is on screen with the ways on.
async function openMedia(which) {
  if (which === 'none') return new MediaStream();
  const constraints = which === 'audio' ? { audio: true } : { video: true, audio: true };
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    // Browsers offer the camera only to secure pages: https://, or http://localhost.
    mediaFailed('This browser offers the camera and microphone only to secure pages: open the ' +
                'call over https:// (tincan --tls-cert, --tls-key) or on localhost, or join ' +
                'without them.', which, false);
    return null;
  }
  setState($('state').dataset.state, which === 'audio' ? 'Starting the microphone…' : 'Starting the camera…');
  try {
    return await navigator.mediaDevices.getUserMedia(constraints);
  } catch (err) {
    mediaFailed(mediaError(err, which), which, true);
    return null;
  }
}

function mediaFailed(text, which, canRetry) {
  $('call').hidden = true;
  const actions = [];
  if (canRetry) actions.push(button('Try again', () => start(wanted, which)));
  if (which === 'all') actions.push(button('Microphone only', () => start(wanted, 'audio')));
  actions.push(button('Join without camera or microphone', () => start(wanted, 'none')));
  showNotice('media', text, actions);
  setState('idle', 'Not in the call');
}

function stopMedia() {
  for (const track of localStream.getTracks()) track.stop();
  localStream = new MediaStream();
  $('self-video').srcObject = null;
  updateControls();
}

function updateControls() {
  const audio = localStream.getAudioTracks();
  const video = localStream.getVideoTracks();
  callState.media = localStream.getTracks().filter((t) => t.readyState === 'live').map((t) => t.kind);
  callState.mic = audio.some((t) => t.enabled);
  callState.camera = video.some((t) => t.enabled);
  $('mic').disabled = !audio.length;
  $('mic').textContent = !audio.length ? 'No microphone' : callState.mic ? 'Mute' : 'Unmute';
  $('mic').setAttribute('aria-pressed', String(audio.length > 0 && !callState.mic));
  $('camera').disabled = !video.length;
  $('camera').textContent = !video.length ? 'No camera' : callState.camera ? 'Camera off' : 'Camera on';
  $('camera').setAttribute('aria-pressed', String(video.length > 0 && !callState.camera));
  $('self').dataset.video = callState.camera ? 'on' : 'off';
  $('self-state').textContent = !audio.length ? 'you, no microphone' : callState.mic ? 'you' : 'you, muted';
}

// Switching a track off (enabled = false) keeps the connections as they are; the others receive
// black frames and silence until it is switched on again.
function toggle(kind) {
  const tracks = localStream.getTracks().filter((t) => t.kind === kind);
  if (!tracks.length) return;
  const on = !tracks[0].enabled;
  for (const t of tracks) t.enabled = on;
  updateControls();
}

$('mic').addEventListener('click', () => toggle('audio'));
$('camera').addEventListener('click', () => toggle('video'));

// ---- peers ---------------------------------------------------------------------------------------

const STATE_TEXT = {
  new: 'starting…',
  connecting: 'connecting…',
  connected: 'connected',
  disconnected: 'interrupted, waiting…',
  failed: 'failed',
  closed: 'closed',
};

function makeTile(peer) {
  const tile = el('figure', 'tile');
  tile.dataset.peer = peer.id;
  tile.dataset.video = 'off';
  const video = el('video');
  video.autoplay = true;
  video.playsInline = true;
  const label = el('figcaption', 'label');
  const name = el('span', 'name', peer.name || 'Someone');
  const conn = el('span', 'conn');
  label.append(name, conn);
  tile.append(video, label);
  $('tiles').append(tile);
  Object.assign(peer, { tile, video, nameEl: name, connEl: conn });
}

function showConnection(peer) {
  const { pc } = peer;
  if (peers.get(peer.id) !== peer) return;
  const state = pc.connectionState;
  Object.assign(callState.peers[peer.id], { state, ice: pc.iceConnectionState, gathering: pc.iceGatheringState });
  peer.connEl.dataset.state = state;
  peer.connEl.textContent = STATE_TEXT[state] || state;
  peer.connEl.title = `connection: ${state}, ICE: ${pc.iceConnectionState}`;
}

function addPeer(id, name) {
  let peer = peers.get(id);
  if (peer) {
    if (name) {
      peer.name = name;
      peer.nameEl.textContent = name;
      callState.peers[id].name = name;
    }
    return peer;
  }
  const pc = new RTCPeerConnection({ iceServers });
  peer = {
    id,
    name,
    pc,
    // In each pair the peer with the greater id gives way when two offers cross.
    polite: callState.id > id,
    makingOffer: false,
    ignoreOffer: false,
    isSettingRemoteAnswerPending: false,
    stream: null,
    inbox: Promise.resolve(), // the messages from this peer still being handled
  };
  peers.set(id, peer);
  callState.peers[id] = { name, polite: peer.polite, candidatesSent: 0, candidatesAdded: 0 };
  makeTile(peer);
  showConnection(peer);

  pc.addEventListener('negotiationneeded', () => negotiate(peer));
  pc.addEventListener('icegatheringstatechange', () => showConnection(peer));
  pc.addEventListener('icecandidate', ({ candidate }) => {
    if (peers.get(id) === peer) callState.peers[id].candidatesSent++;
    signal('candidate', { to: id, candidate: candidate ? candidate.toJSON() : null });
  });
  pc.addEventListener('track', ({ track, streams }) => showTrack(peer, track, streams));
  pc.addEventListener('iceconnectionstatechange', () => showConnection(peer));
  pc.addEventListener('connectionstatechange', () => {
    showConnection(peer);
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
      say(`The connection to ${peer.name || 'someone'} ${pc.connectionState === 'failed' ? 'failed' : 'closed'}.`);
      removePeer(id, pc.connectionState);
    }
  });

  // addTrack, not addTransceiver: when our offer is rolled back for the other side's, these
  // transceivers take the other side's m= lines, so one offer and one answer carry both ways.
  const kinds = new Set();
  for (const track of localStream.getTracks()) {
    pc.addTrack(track, localStream);
    kinds.add(track.kind);
  }
  // Without a camera or microphone, still ask to receive theirs.
  for (const kind of ['audio', 'video']) if (!kinds.has(kind)) pc.addTransceiver(kind, { direction: 'recvonly' });
  updateAlone();
  return peer;
}

function removePeer(id, reason) {
  const peer = peers.get(id);
  if (!peer) return;
  peers.delete(id);
  delete callState.peers[id];
  peer.pc.close();
  callState.ended[id] = { name: peer.name, reason, signalingState: peer.pc.signalingState };
  peer.video.srcObject = null;
  peer.tile.remove();
  updateAlone();
}

function removeAllPeers(reason) {
  for (const id of [...peers.keys()]) removePeer(id, reason);
}

function showTrack(peer, track, streams) {
  if (!peer.stream) peer.stream = streams[0] || new MediaStream();
  if (!peer.stream.getTracks().includes(track)) peer.stream.addTrack(track);
  if (track.kind === 'video') peer.tile.dataset.video = 'on';
  if (peer.video.srcObject === peer.stream) return;
  peer.video.srcObject = peer.stream;
  // A page that captures nothing may not start sound by itself: then play muted and offer a
  // button, since a click allows sound.
  peer.video.play().catch(() => {
    if (!peers.has(peer.id) || peer.tile.querySelector('.unmute')) return;
    peer.video.muted = true;
    peer.video.play().catch(() => {});
    const b = button('Turn sound on', () => {
      peer.video.muted = false;
      peer.video.play().catch(() => {});
      b.remove();
    });
    b.className = 'unmute';
    peer.tile.append(b);
  });
}

// ---- perfect negotiation -------------------------------------------------------------------------

function signal(event, data) {
  if (socket) socket.emit(event, data);
}

// negotiationneeded. Both sides of a new pair want to offer at once; the polite side gives the
// other a moment to go first, since rolling back an offer still being made is what trips Chromium
// (see offerGathered). Offers that cross all the same are settled by onDescription.
async function negotiate(peer) {
  const waited = peer.polite && !peer.pc.remoteDescription;
  if (waited) await new Promise((resolve) => setTimeout(resolve, POLITE_WAIT_MS));
  queue(peer, () => makeOffer(peer, waited));
}

async function makeOffer(peer, waited) {
  const { pc } = peer;
  if (peers.get(peer.id) !== peer || pc.signalingState !== 'stable') return;
  // Answering their offer took our tracks along; should more be needed, the event comes again.
  if (waited && pc.remoteDescription) return;
  try {
    peer.makingOffer = true;
    await pc.setLocalDescription();
    signal('offer', { to: peer.id, sdp: pc.localDescription.sdp });
  } catch (err) {
    if (peers.get(peer.id) === peer) console.warn(`call: could not make an offer for ${peer.name}: ${err.message}`);
  } finally {
    peer.makingOffer = false;
  }
}

// Resolves once our own offer has found a candidate, or gathering has ended, or after a second.
// Chromium (156) can apply a remote offer that rolls back a local one before that, but the
// connection then never gathers a candidate again and stays "new" for good.
function offerGathered(peer) {
  const { pc } = peer;
  if (callState.peers[peer.id].candidatesSent > 0 || pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      pc.removeEventListener('icecandidate', finish);
      resolve();
    };
    const timer = setTimeout(finish, 1000);
    pc.addEventListener('icecandidate', finish);
  });
}

async function onDescription(peer, description) {
  const { pc } = peer;
  const readyForOffer = !peer.makingOffer && (pc.signalingState === 'stable' || peer.isSettingRemoteAnswerPending);
  const offerCollision = description.type === 'offer' && !readyForOffer;
  peer.ignoreOffer = !peer.polite && offerCollision;
  if (peer.ignoreOffer) {
    callState.glare.ignored++;
    return;
  }
  // An answer to an offer the other side ignored, or a second one, has nothing to answer.
  if (description.type === 'answer' && pc.signalingState !== 'have-local-offer') return;
  try {
    if (offerCollision) {
      // The polite side's own offer is rolled back by setRemoteDescription itself.
      callState.glare.rolledBack++;
      await offerGathered(peer);
    }
    peer.isSettingRemoteAnswerPending = description.type === 'answer';
    await pc.setRemoteDescription(description);
    peer.isSettingRemoteAnswerPending = false;
    if (description.type === 'offer') {
      await pc.setLocalDescription();
      signal('answer', { to: peer.id, sdp: pc.localDescription.sdp });
    }
  } catch (err) {
    peer.isSettingRemoteAnswerPending = false;
    if (peers.get(peer.id) === peer) {
      console.warn(`call: could not take the ${description.type} of ${peer.name}: ${err.message}`);
    }
  }
}

async function onCandidate(peer, candidate) {
  // The end of candidates needs no action: the browser does not wait for it.
  if (!candidate) return;
  try {
    await peer.pc.addIceCandidate(candidate);
    if (callState.peers[peer.id]) callState.peers[peer.id].candidatesAdded++;
  } catch (err) {
    // The candidates of an offer that was ignored or rolled back fail, and do no harm.
    if (!peer.ignoreOffer && peers.get(peer.id) === peer) {
      console.debug(`call: candidate from ${peer.name}: ${err.message}`);
    }
  }
}

// Each peer's messages, and our offers to it, are handled one after the other in the order they
// came: a candidate is added only once the description before it is in place, even when applying
// that one waits, and no offer of ours is made while theirs is being answered.
function fromPeer(m, handle, isOffer = false) {
  if (!callState.joined || !m || typeof m.from !== 'string') return;
  // An offer may come before word of its sender (after a reconnection): the name follows.
  const peer = peers.get(m.from) || (isOffer ? addPeer(m.from, '') : null);
  if (!peer) return;
  queue(peer, () => handle(peer));
}

function queue(peer, task) {
  peer.inbox = peer.inbox.then(() => (peers.get(peer.id) === peer ? task() : undefined))
    .catch((err) => console.warn(`call: with ${peer.name}: ${err.message}`));
}

// ---- signaling -----------------------------------------------------------------------------------

function connect() {
  if (socket) {
    if (socket.connected) join();
    return;
  }
  const options = {};
  if (params.get('transport') === 'polling') options.transports = ['polling'];
  else if (params.get('transport') === 'websocket') options.transports = ['websocket'];
  setState('connecting', 'Connecting…');
  socket = io('/call', options);

  socket.on('connect', () => {
    setState('connected', socket.recovered ? 'Connected again' : 'Connected');
    if (!wanted) return;
    // A recovered session is still in the call and has been sent what it missed; otherwise the
    // server has forgotten it, and the others have seen it leave.
    if (socket.recovered && (callState.joined || joinPending)) return;
    removeAllPeers('reconnected');
    callState.joined = false;
    join();
  });
  socket.on('disconnect', (reason) => {
    setState('disconnected', `Disconnected from tincan (${reason}), reconnecting…`);
    // Only a disconnection the server asked for stops the client's own reconnection.
    if (reason === 'io server disconnect') socket.connect();
  });
  socket.on('connect_error', (err) => setState('disconnected', `Cannot reach tincan (${err.message}), retrying…`));

  socket.on('peer-joined', (p) => {
    if (!callState.joined || !p || typeof p.id !== 'string' || p.id === callState.id) return;
    addPeer(p.id, p.name);
    say(`${p.name} joined.`);
  });
  socket.on('peer-left', (p) => {
    const peer = p && peers.get(p.id);
    if (!peer) return;
    say(`${peer.name || 'Someone'} left.`);
    removePeer(p.id, 'left');
  });
  socket.on('offer', (m) => m && typeof m.sdp === 'string' &&
            fromPeer(m, (peer) => onDescription(peer, { type: 'offer', sdp: m.sdp }), true));
  socket.on('answer', (m) => m && typeof m.sdp === 'string' &&
            fromPeer(m, (peer) => onDescription(peer, { type: 'answer', sdp: m.sdp })));
  socket.on('candidate', (m) => fromPeer(m, (peer) => onCandidate(peer, m.candidate)));
}

function join() {
  const seq = ++joinSeq;
  const { room, name } = wanted;
  joinPending = true;
  socket.timeout(ACK_TIMEOUT_MS).emit('join', { room, name }, (err, res) => {
    if (seq !== joinSeq || !wanted) return;
    joinPending = false;
    if (err) {
      showNotice('error', 'tincan did not answer the request to join.', [button('Try again', () => {
        hideNotice();
        join();
      })]);
      return;
    }
    if (res.error) {
      joinRefused(res);
      return;
    }
    hideNotice();
    callState.id = res.id;
    callState.joined = true;
    setState('connected', `In the call as ${name}`);
    for (const p of res.peers) addPeer(p.id, p.name);
    updateAlone();
  });
}

function joinRefused(res) {
  const room = wanted.room;
  endCall();
  if (res.code === 'full') {
    showNotice('full', `The room “${room}” is full. Everyone in a call sends their video to ` +
               'everyone else, so rooms are kept small. Try again later, or pick another room.',
               [link('Try again', location.href), link('Pick another room', './')]);
  } else {
    showNotice('refused', `Could not join: ${res.error}.`, [link('Pick a room and name', './')]);
  }
}

// Leaves the call on this side: every connection closed, camera and microphone off.
function endCall() {
  wanted = null;
  joinSeq++;
  joinPending = false;
  callState.joined = false;
  removeAllPeers('hung up');
  stopMedia();
  $('call').hidden = true;
  setState('idle', 'Not in the call');
}

$('hangup').addEventListener('click', () => {
  const { room, name } = wanted || { room: callState.room, name: callState.name };
  signal('leave', {});
  endCall();
  showNotice('left', 'You left the call.', [link('Rejoin', callUrl(room, name)), link('Pick another room', './')]);
});

// ---- starting ------------------------------------------------------------------------------------

async function loadIceServers() {
  try {
    const res = await fetch('/api/ice-servers', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const body = await res.json();
    return Array.isArray(body.iceServers) ? body.iceServers : [];
  } catch (err) {
    // Within one network the browsers still find each other without STUN.
    console.warn(`call: no ICE servers (${err.message}); only direct connections will work`);
    return [];
  }
}

async function start(who, media) {
  wanted = who;
  callState.room = who.room;
  callState.name = who.name;
  hideNotice();
  $('join').hidden = true;
  const stream = await openMedia(media);
  if (!stream || wanted !== who) return;
  localStream = stream;
  $('self-video').srcObject = localStream.getVideoTracks().length ? localStream : null;
  updateControls();
  $('room-title').textContent = who.room;
  $('self-name').textContent = who.name;
  say('');
  updateAlone();
  $('call').hidden = false;
  if (!iceServers.length) iceServers = await loadIceServers();
  if (wanted !== who) return;
  connect();
}

// The server trims names and rooms of these characters only; so must we, to know our own name.
const trim = (s) => s.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, '');

$('join').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = trim($('name').value);
  localStorage.setItem(NAME_KEY, name);
  location.search = callUrl(trim($('room').value), name);
});

if (typeof io !== 'function') {
  // tincan serves the client from the socket.io-client npm package (`npm ci` installs it).
  setState('disconnected', 'The Socket.IO client did not load (/socket.io/socket.io.min.js).');
  $('join-button').disabled = true;
  $('join').hidden = false;
} else if (params.get('room')) {
  const room = trim(params.get('room'));
  const name = trim(params.get('name') || localStorage.getItem(NAME_KEY) || localStorage.getItem('tincan-chat-name') ||
                    `Guest ${Math.floor(100 + Math.random() * 900)}`);
  if (params.get('name')) localStorage.setItem(NAME_KEY, name);
  document.title = `${room}: tincan call`;
  start({ room, name }, 'all');
} else {
  $('name').value = localStorage.getItem(NAME_KEY) || localStorage.getItem('tincan-chat-name') || '';
  $('join').hidden = false;
}

window.callStats = async () => {
  const out = {};
  for (const [id, peer] of peers) {
    const r = { name: peer.name, state: peer.pc.connectionState, framesDecoded: 0, videoBytesReceived: 0,
                audioBytesReceived: 0 };
    (await peer.pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') {
        r.framesDecoded += s.framesDecoded || 0;
        r.videoBytesReceived += s.bytesReceived || 0;
      } else if (s.kind === 'audio') {
        r.audioBytesReceived += s.bytesReceived || 0;
      }
    });
    out[id] = r;
  }
  return out;
};
