// A real browser as the WebSocket client: headless Chromium (Debian's, driven by playwright-core)
// loads tincan's landing page and talks to /echo from the page: text and binary, permessage-deflate
// (Chromium always offers it), a 1 MiB message, and clean closes. Any console error fails the test.
//
// Env: TINCAN_BIN, TINCAN_SRC; CHROMIUM (default /usr/bin/chromium). Without Chromium the test is
// skipped (exit 77), except under CI=true, where it must run.

import { join } from 'node:path';
import { checklist, SRC, watchdog, within } from '../interop/lib.mjs';
import { haveChromium, runMain, watchPage, withTincanAndChromium } from './lib.mjs';

const t = checklist();
watchdog(150000);

// Runs inside the page: every exchange, with the results as plain data.
async function pageScenario(url) {
  const out = { errors: [] };
  const timeout = (ms, what) => new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: timed out`)), ms));
  const open = (protocols) => Promise.race([timeout(10000, 'open'), new Promise((res, rej) => {
    const ws = new WebSocket(url, protocols);
    ws.binaryType = 'arraybuffer';
    const queue = [];
    const waiters = [];
    ws.onmessage = (e) => (waiters.length ? waiters.shift()(e.data) : queue.push(e.data));
    ws.closed = new Promise((r) => ws.addEventListener('close', (e) => r({ code: e.code, reason: e.reason, wasClean: e.wasClean })));
    ws.recv = () => Promise.race([timeout(20000, 'message'), queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r))]);
    ws.onopen = () => res(ws);
    ws.onerror = () => rej(new Error('WebSocket error before open'));
  })]);
  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
  const random = (n) => {
    const a = new Uint8Array(n);
    for (let i = 0; i < n; i += 65536) crypto.getRandomValues(a.subarray(i, Math.min(n, i + 65536)));
    return a;
  };
  const same = (a, b) => a.byteLength === b.byteLength && new Uint8Array(a).every((x, i) => x === b[i]);

  const ws = await open();
  out.extensions = ws.extensions;
  out.protocol = ws.protocol;
  const text = 'hello from Chromium ✓ 😀';
  ws.send(text);
  let m = await ws.recv();
  out.text = { type: typeof m, same: m === text };
  const bytes = new Uint8Array(256).map((_, i) => i);
  ws.send(bytes.buffer);
  m = await ws.recv();
  out.binary = { type: m instanceof ArrayBuffer ? 'ArrayBuffer' : typeof m, same: m instanceof ArrayBuffer && same(m, bytes), hex: hex(m).slice(0, 16) };
  // A view sends only its own bytes.
  ws.send(bytes.subarray(10, 20));
  m = await ws.recv();
  out.view = { same: m instanceof ArrayBuffer && same(m, bytes.subarray(10, 20)) };
  ws.send(new Blob([new Uint8Array([1, 2, 3])]));
  m = await ws.recv();
  out.blob = { same: m instanceof ArrayBuffer && same(m, new Uint8Array([1, 2, 3])) };
  ws.send('');
  m = await ws.recv();
  out.emptyText = { type: typeof m, same: m === '' };
  ws.send(new ArrayBuffer(0));
  m = await ws.recv();
  out.emptyBinary = { same: m instanceof ArrayBuffer && m.byteLength === 0 };
  // 1 MiB each way, compressible text and random binary.
  const bigText = Array.from({ length: 1 << 20 }, (_, i) => String.fromCharCode(97 + ((i * 7 + (i >> 9)) % 26))).join('');
  ws.send(bigText);
  m = await ws.recv();
  out.bigText = { type: typeof m, same: m === bigText, length: m.length };
  const bigBin = random(1 << 20);
  ws.send(bigBin);
  m = await ws.recv();
  out.bigBinary = { same: m instanceof ArrayBuffer && same(m, bigBin), length: m.byteLength };
  // A burst keeps its order.
  for (let i = 0; i < 200; i++) ws.send(`burst ${i}`);
  let inOrder = 0;
  for (let i = 0; i < 200; i++) if ((await ws.recv()) === `burst ${i}`) inOrder++;
  out.burstInOrder = inOrder;
  ws.close(1000, 'done');
  out.close1000 = await Promise.race([ws.closed, timeout(10000, 'close')]);

  const ws2 = await open();
  ws2.close(4000, 'app');
  out.close4000 = await Promise.race([ws2.closed, timeout(10000, 'close')]);
  return out;
}

async function main() {
  if (!haveChromium(t)) return;
  await withTincanAndChromium(t, ['--web', join(SRC, 'web')], async (context, server) => {
    const page = context.pages()[0] || (await context.newPage());
    const consoleErrors = watchPage(page);
    const base = `http://127.0.0.1:${server.port}`;
    const res = await page.goto(`${base}/`, { timeout: 30000 });
    t.eq('landing page: status 200', 200, res && res.status());
    t.check('landing page: title names tincan', /tincan/.test(await page.title()), await page.title());

    const r = await within(90000, page.evaluate(pageScenario, `ws://127.0.0.1:${server.port}/echo`), 'page scenario');
    t.check('ws.extensions has permessage-deflate', /permessage-deflate/.test(r.extensions), JSON.stringify(r.extensions));
    t.eq('no subprotocol', '', r.protocol);
    t.check('text echoes as the same string', r.text.type === 'string' && r.text.same, JSON.stringify(r.text));
    t.check('ArrayBuffer echoes as the same bytes', r.binary.type === 'ArrayBuffer' && r.binary.same, JSON.stringify(r.binary));
    t.check('a typed-array view echoes only its bytes', r.view.same, JSON.stringify(r.view));
    t.check('a Blob echoes as binary', r.blob.same, JSON.stringify(r.blob));
    t.check('empty text echoes', r.emptyText.type === 'string' && r.emptyText.same, JSON.stringify(r.emptyText));
    t.check('empty binary echoes', r.emptyBinary.same, JSON.stringify(r.emptyBinary));
    t.check('1 MiB text echoes intact', r.bigText.type === 'string' && r.bigText.same, JSON.stringify(r.bigText));
    t.check('1 MiB binary echoes intact', r.bigBinary.same, JSON.stringify(r.bigBinary));
    t.eq('200 messages in a burst come back in order', 200, r.burstInOrder);
    t.check('close(1000): close event 1000, clean', r.close1000.code === 1000 && r.close1000.wasClean, JSON.stringify(r.close1000));
    t.check('close(4000): close event 4000, clean', r.close4000.code === 4000 && r.close4000.wasClean, JSON.stringify(r.close4000));
    t.check('no console errors', consoleErrors.length === 0, consoleErrors.join(' | '));
  });
  t.summary();
}

runMain(t, main);
