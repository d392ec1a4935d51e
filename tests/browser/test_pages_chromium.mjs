// Every page a person reads, in a real browser: the landing page, the WebSocket demo and each
// learning note open in headless Chromium (Debian's, driven by playwright-core) at a laptop's and a
// phone's width, with no console error, no failed request and no sideways scrolling on the phone.
// The WebSocket demo is also used: it must show the handshake and, for a message sent, its frames
// with the masking worked out. So is the Socket.IO packet view: it must show the Engine.IO
// handshake, the CONNECT and its answer, the upgrade's probe, and an echo event going out and
// coming back. The chat is opened like any page (tests/browser/test_chat_chromium.mjs uses it).
// A screenshot of each page at each width is written for review to
// $TINCAN_BUILD/screenshots (the build folder under ctest).
//
// Env: TINCAN_BIN, TINCAN_SRC, TINCAN_BUILD; CHROMIUM (default /usr/bin/chromium). Without
// Chromium the test is skipped (exit 77), except under CI=true, where it must run.

import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { checklist, SRC, watchdog, within } from '../interop/lib.mjs';
import { haveChromium, runMain, SHOTS, watchPage, withTincanAndChromium } from './lib.mjs';

const VIEWPORTS = { laptop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };

const t = checklist();
watchdog(170000);

// The landing page, every demo (each web/NAME/index.html is served at /NAME/) and every note.
function pages() {
  const web = join(SRC, 'web');
  const demos = readdirSync(web, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(web, d.name, 'index.html')))
    .map((d) => d.name).sort()
    .map((d) => ({ name: d, path: `/${d}/` }));
  const notes = readdirSync(join(SRC, 'docs', 'notes')).filter((f) => f.endsWith('.md')).sort()
    .map((f) => f.slice(0, -3))
    .map((n) => (n === 'README' ? { name: 'notes', path: '/notes/' } : { name: `notes-${n}`, path: `/notes/${n}` }));
  return [{ name: 'home', path: '/' }, ...demos, ...notes];
}

// Opens a page in a fresh tab and collects everything that went wrong while it loaded.
async function open(context, url, viewport) {
  const page = await context.newPage();
  await page.setViewportSize(viewport);
  const problems = watchPage(page, { requests: true });
  const res = await page.goto(url, { timeout: 30000, waitUntil: 'load' });
  return { page, res, problems };
}

// The demo in use: wait for the connection, send a message, look at its frames, close.
async function useWsDemo(page) {
  await page.waitForFunction(() => document.getElementById('state').textContent.startsWith('open'), null, { timeout: 15000 });
  await page.waitForFunction(() => /101 Switching Protocols/.test(document.getElementById('hs-response').textContent),
                             null, { timeout: 15000 });
  await page.fill('#text', 'hello');
  await page.click('#send-text');
  await page.waitForFunction(() => document.querySelectorAll('#frames .frame.in').length >= 1 &&
                                   document.querySelectorAll('#frames .frame.out').length >= 1 &&
                                   document.querySelector('#log .rtt'), null, { timeout: 15000 });
  const r = await page.evaluate(() => {
    const inF = document.querySelector('#frames .frame.in');
    const outF = document.querySelector('#frames .frame.out');
    return {
      inTitle: inF.querySelector('.frame-title').textContent,
      inXor: (inF.querySelector('pre.xor') || {}).textContent || '',
      inKey: Array.from(inF.querySelectorAll('.fields dt')).map((d) => d.textContent),
      inBytes: inF.querySelectorAll('.bytes .byte').length,
      outMeaning: (outF.querySelector('.meaning') || {}).textContent || '',
      outBytes: outF.querySelectorAll('.bytes .byte').length,
      echo: document.querySelector('#log .in').textContent,
    };
  });
  return r;
}

// The Socket.IO packet view in use: wait for the handshake, the CONNECT and the upgrade, then send
// an echo and wait for it to come back. Returns the packets' wire forms by direction.
async function useSioDemo(page) {
  const wires = () => {
    const out = { in: [], out: [] };
    for (const li of document.querySelectorAll('#packets li.pkt')) {
      out[li.dataset.dir].push(`${li.dataset.transport} ${li.querySelector('.wire').textContent}`);
    }
    return out;
  };
  await page.waitForFunction(() => document.getElementById('state').dataset.state === 'connected', null, { timeout: 15000 });
  await page.waitForFunction(() => /^5$/m.test(Array.from(document.querySelectorAll('#packets li.pkt.out .wire'),
                                                          (w) => w.textContent).join('\n')), null, { timeout: 15000 });
  await page.fill('#text', 'hello');
  await page.click('#send-button');
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#packets li.pkt.in .wire'))
    .some((w) => w.textContent.startsWith('42["echo","hello"')), null, { timeout: 15000 });
  return page.evaluate(wires);
}

async function main() {
  if (!haveChromium(t)) return;
  mkdirSync(SHOTS, { recursive: true });
  const args = ['--web', join(SRC, 'web'), '--notes', join(SRC, 'docs', 'notes')];
  await withTincanAndChromium(t, args, async (context, server) => {
    const base = `http://127.0.0.1:${server.port}`;
    for (const p of pages()) {
      for (const [vname, viewport] of Object.entries(VIEWPORTS)) {
        const label = `${p.path} (${vname})`;
        const { page, res, problems } = await within(60000, open(context, base + p.path, viewport), label);
        t.eq(`${label}: 200`, 200, res && res.status());
        if (p.name === 'ws') {
          const r = await within(40000, useWsDemo(page), 'the WebSocket demo');
          t.check(`${label}: the echo came back, with its round-trip time`, /hello/.test(r.echo) && /echo after/.test(r.echo), r.echo);
          t.check(`${label}: the browser's frame is masked, with its key and XOR shown`,
                  /browser → tincan/.test(r.inTitle) && r.inKey.includes('masking key') && r.inBytes === 6 &&
                  /XOR key/.test(r.inXor) && /= unmasked/.test(r.inXor), JSON.stringify(r));
          t.check(`${label}: tincan's frame is unmasked and reads "hello"`,
                  r.outBytes === 2 && /"hello"/.test(r.outMeaning), JSON.stringify(r));
        }
        if (p.name === 'sio') {
          const w = await within(40000, useSioDemo(page), 'the Socket.IO packet view');
          const has = (dir, re) => w[dir].some((x) => re.test(x));
          t.check(`${label}: the Engine.IO open packet came over polling, then the CONNECT and its answer`,
                  has('in', /^polling 0\{"sid":"[^"]+","upgrades":\["websocket"\],"pingInterval":25000,/) &&
                  has('out', /^polling 40$/) && has('in', /^polling 40\{"sid":"[^"]+","pid":"[^"]+"\}$/),
                  JSON.stringify(w));
          t.check(`${label}: the upgrade is shown: 2probe, 3probe and 5 over websocket`,
                  has('out', /^websocket 2probe$/) && has('in', /^websocket 3probe$/) && has('out', /^websocket 5$/),
                  JSON.stringify(w));
          t.check(`${label}: the echo event is shown both ways, tincan's with its recovery offset`,
                  has('out', /^websocket 42\["echo","hello"\]$/) && has('in', /^websocket 42\["echo","hello","[^"]+"\]$/),
                  JSON.stringify(w));
        }
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        t.check(`${label}: no sideways scrolling`, overflow <= 1, `${overflow} px too wide`);
        const file = join(SHOTS, `${p.name}-${vname}.png`);
        await page.screenshot({ path: file, fullPage: true });
        if (p.name === 'ws') {
          await page.click('#close');
          await page.waitForFunction(() => /clean closing handshake/.test(document.getElementById('log').textContent),
                                     null, { timeout: 10000 }).catch(() => {});
          t.check(`${label}: Close ends with a clean closing handshake`,
                  /code 1000.*clean closing handshake/.test(await page.textContent('#log')));
        }
        t.check(`${label}: no console error or failed request`, problems.length === 0, problems.join(' | '));
        await page.close();
      }
    }
    console.log(`# screenshots: ${SHOTS}`);
  });
  t.summary();
}

runMain(t, main);
