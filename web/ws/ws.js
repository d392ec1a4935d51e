// The WebSocket echo demo: a plain browser WebSocket talking to tincan's /echo.
'use strict';

const $ = (id) => document.getElementById(id);
let ws = null;
let sawHandshake = false;

function log(kind, dir, text) {
  const li = document.createElement('li');
  li.className = kind;
  const d = document.createElement('span');
  d.className = 'dir';
  d.textContent = dir;
  li.append(d, document.createTextNode(text));
  $('log').append(li);
  li.scrollIntoView({ block: 'nearest' });
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function setConnected(on) {
  for (const id of ['text', 'send-text', 'send-binary', 'close']) $(id).disabled = !on;
  $('connect').disabled = on;
}

function showCrlf(s) {
  return s.replace(/\r\n/g, '\u21b5\n');
}

function connect() {
  const url = new URL('/echo?handshake', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  sawHandshake = false;
  $('state').textContent = 'connecting to ' + url.href;
  ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {
    $('state').textContent = 'open' + (ws.extensions ? ' (' + ws.extensions + ')' : '');
    setConnected(true);
    log('event', 'open', url.href);
  };
  ws.onmessage = (ev) => {
    if (!sawHandshake && typeof ev.data === 'string') {
      sawHandshake = true;
      try {
        const hs = JSON.parse(ev.data);
        if (hs.type === 'handshake') {
          $('hs-request').textContent = showCrlf(hs.request);
          $('hs-response').textContent = showCrlf(hs.response);
          $('hs-note').textContent = '\u21b5 marks each CRLF line end. Sec-WebSocket-Accept is ' +
            'base64(SHA-1(Sec-WebSocket-Key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).';
          return;
        }
      } catch (e) { /* not the handshake: an ordinary message */ }
    }
    if (typeof ev.data === 'string') log('in', '\u2190 text', ev.data);
    else log('in', '\u2190 binary', hex(new Uint8Array(ev.data)));
  };
  ws.onclose = (ev) => {
    setConnected(false);
    $('state').textContent = 'closed';
    log('event', 'close', 'code ' + ev.code + (ev.reason ? ' (' + ev.reason + ')' : '') +
      (ev.wasClean ? ', clean closing handshake' : ', not clean'));
  };
  ws.onerror = () => log('event', 'error', 'the connection failed');
}

$('connect').addEventListener('click', connect);
$('close').addEventListener('click', () => ws && ws.close(1000, 'bye'));
$('send').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('text').value;
  ws.send(text);
  log('out', '\u2192 text', text);
});
$('send-binary').addEventListener('click', () => {
  const bytes = new TextEncoder().encode($('text').value);
  ws.send(bytes);
  log('out', '\u2192 binary', hex(bytes));
});
connect();
