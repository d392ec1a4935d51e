// The chat in real browsers: two headless Chromium pages (Debian's, driven by playwright-core) in
// one room of tincan's /chat/, one of them held to HTTP long-polling (?transport=polling), the
// other upgraded to WebSocket. Each sees the other arrive, they exchange messages through the
// page's own form (Enter in one, the Send button in the other), the sender's messages get their
// delivery tick, the typing indicator shows, and a page that goes away is seen to leave. Neither
// page may log a console error or fail a request. Screenshots of both pages go to
// $TINCAN_BUILD/screenshots for review.
//
// Env: TINCAN_BIN, TINCAN_SRC, TINCAN_BUILD; CHROMIUM (default /usr/bin/chromium). Without
// Chromium the test is skipped (exit 77), except under CI=true, where it must run.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { checklist, SRC, watchdog, within } from '../interop/lib.mjs';
import { haveChromium, runMain, SHOTS, watchPage, withTincanAndChromium } from './lib.mjs';

const WAIT = { timeout: 15000 };

const t = checklist();
watchdog(170000);

// Opens a page and collects everything that goes wrong on it.
async function open(context, url) {
  const page = await context.newPage();
  await page.setViewportSize({ width: 1100, height: 800 });
  const problems = watchPage(page, { requests: true });
  const res = await page.goto(url, { timeout: 30000, waitUntil: 'load' });
  return { page, res, problems };
}

const members = (page) => page.$$eval('#members li', (lis) => lis.map((li) => li.textContent));
const texts = (page) => page.$$eval('#messages li.msg .text', (els) => els.map((e) => e.textContent));
const notices = (page) => page.$$eval('#messages li.notice', (els) => els.map((e) => e.textContent));

async function waitMembers(page, names) {
  await page.waitForFunction((want) => {
    const got = Array.from(document.querySelectorAll('#members li'), (li) => li.textContent).sort();
    return JSON.stringify(got) === JSON.stringify(want);
  }, [...names].sort(), WAIT);
}

async function waitMessage(page, text) {
  await page.waitForFunction((want) => Array.from(document.querySelectorAll('#messages li.msg .text'))
    .some((e) => e.textContent === want), text, WAIT);
}

async function scenario(context, base) {
  const room = `browsers-${Date.now().toString(36)}`;
  const a = await open(context, `${base}/chat/?room=${room}&name=alice`);
  t.eq('chat page: status 200', 200, a.res && a.res.status());
  const ioLoaded = await a.page.evaluate(() => typeof io === 'function');
  t.check('the Socket.IO browser client is served by tincan and loads', ioLoaded);
  await a.page.waitForSelector('#chat:not([hidden])', WAIT);
  await waitMembers(a.page, ['alice']);
  t.ok('page A (default transports) joins the room from its URL');

  const b = await open(context, `${base}/chat/?transport=polling&room=${room}&name=bob`);
  await b.page.waitForSelector('#chat:not([hidden])', WAIT);
  await waitMembers(b.page, ['alice', 'bob']);
  await waitMembers(a.page, ['alice', 'bob']);
  t.ok('presence: both pages list both people');
  await a.page.waitForFunction(() => Array.from(document.querySelectorAll('#messages li.notice'))
    .some((li) => li.textContent === 'bob joined'), null, WAIT);
  t.ok('presence: page A is told that bob joined');

  await a.page.waitForFunction(() => document.getElementById('transport').dataset.transport === 'websocket', null, WAIT);
  t.ok('page A upgraded to WebSocket');
  const bt = await b.page.$eval('#transport', (e) => e.dataset.transport);
  t.eq('page B stays on long-polling', 'polling', bt);

  // Typing shows on the other page.
  await a.page.focus('#text');
  await a.page.keyboard.type('hello bob, ');
  await b.page.waitForFunction(() => document.getElementById('typing').textContent === 'alice is typing…', null, WAIT);
  t.ok('typing: page B sees "alice is typing…"');
  await a.page.keyboard.type('from a WebSocket ✓');
  await a.page.keyboard.press('Enter');
  const fromA = 'hello bob, from a WebSocket ✓';
  await waitMessage(b.page, fromA);
  t.ok('message from A (Enter) reaches B over polling');
  await a.page.waitForFunction(() => {
    const mine = document.querySelector('#messages li.msg.mine .tick');
    return mine && mine.dataset.state === 'delivered';
  }, null, WAIT);
  t.ok('A\'s message gets its delivery tick');
  await b.page.waitForFunction(() => document.getElementById('typing').textContent === '', null, WAIT);
  t.ok('typing: the indicator clears once the message arrives');

  const fromB = 'hi alice\nthis came by long-polling';
  await b.page.fill('#text', fromB);
  await b.page.click('#send');
  await waitMessage(a.page, fromB);
  t.ok('message from B (Send button, two lines) reaches A');
  await b.page.waitForFunction(() => Array.from(document.querySelectorAll('#messages li.msg.mine .tick'))
    .every((e) => e.dataset.state === 'delivered'), null, WAIT);
  const [ta, tb] = [await texts(a.page), await texts(b.page)];
  t.check('both pages show the same conversation, once each', JSON.stringify(ta) === JSON.stringify([fromA, fromB]) &&
          JSON.stringify(tb) === JSON.stringify([fromA, fromB]), JSON.stringify([ta, tb]));
  const mineA = await a.page.$$eval('#messages li.msg.mine .text', (els) => els.map((e) => e.textContent));
  t.check('each page marks its own messages', JSON.stringify(mineA) === JSON.stringify([fromA]), JSON.stringify(mineA));

  // A third page joining later gets the history.
  const c = await open(context, `${base}/chat/?transport=websocket&room=${room}&name=carol`);
  await waitMembers(c.page, ['alice', 'bob', 'carol']);
  await waitMessage(c.page, fromB);
  const tc = await texts(c.page);
  t.check('a late joiner sees the history', JSON.stringify(tc) === JSON.stringify([fromA, fromB]), JSON.stringify(tc));
  await c.page.close();
  await waitMembers(a.page, ['alice', 'bob']);

  mkdirSync(SHOTS, { recursive: true });
  await a.page.screenshot({ path: join(SHOTS, 'chat-websocket.png'), fullPage: true });
  await b.page.screenshot({ path: join(SHOTS, 'chat-polling.png'), fullPage: true });

  // Bad input is refused by the server and shown, and the page carries on.
  await b.page.evaluate(() => { document.getElementById('name').removeAttribute('maxlength'); });
  await b.page.fill('#name', 'x'.repeat(33));
  await b.page.click('#join-button');
  await b.page.waitForFunction(() => /too long/.test(document.getElementById('join-error').textContent), null, WAIT);
  t.ok('a name over 32 characters is refused with the server\'s reason on the page');

  const problemsBeforeLeave = [...a.problems, ...b.problems, ...c.problems];
  await b.page.close();
  await waitMembers(a.page, ['alice']);
  const na = await notices(a.page);
  t.check('presence: page A is told that bob left', na.includes('bob left'), JSON.stringify(na));
  t.check('no console errors or failed requests', problemsBeforeLeave.length === 0 && a.problems.length === 0,
          [...problemsBeforeLeave, ...a.problems].join(' | '));
  await a.page.close();
}

async function main() {
  if (!haveChromium(t)) return;
  await withTincanAndChromium(t, ['--web', join(SRC, 'web')], async (context, server) => {
    await within(120000, scenario(context, `http://127.0.0.1:${server.port}`), 'chat scenario');
  });
  t.summary();
}

runMain(t, main);
