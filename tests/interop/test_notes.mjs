// The learning notes at /notes/: every note renders with 200, every link inside tincan's own site
// (from the notes and from the demo pages) answers 200 and every "#fragment" names an id on its
// page, and every repository path a note names (src/..., tests/..., ...) exists. A renamed file,
// a deleted page or a mistyped link fails here. Also the route's edges: the bare /notes, a link
// copied from the repository (x.md), names that must not reach the disk, methods, caching.
//
// Env: TINCAN_BIN, TINCAN_SRC.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { checklist, SRC, startTincan, stopAndCheck, watchdog } from './lib.mjs';

const t = checklist();
watchdog(150000);

const NOTES_DIR = join(SRC, 'docs', 'notes');
// Top-level folders whose paths a note may name; each named path must exist.
const REPO_PATH_RE = /(?<![\w./-])((?:src|apps|web|include|tests|fuzz|bench|scripts|docs)\/[\w./-]*[\w/])/g;

function noteNames() {
  return readdirSync(NOTES_DIR).filter((f) => f.endsWith('.md')).map((f) => f.slice(0, -3)).sort();
}

const pageUrl = (base, name) => (name === 'README' ? `${base}/notes/` : `${base}/notes/${name}`);

function decodeEntities(s) {
  return s.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"').replace(/&#39;/g, "'");
}

// Links and resources of a page: href and src attribute values.
function links(html) {
  const out = [];
  for (const m of html.matchAll(/\s(?:href|src)="([^"]*)"/g)) out.push(decodeEntities(m[1]));
  return out;
}

const ids = (html) => new Set(Array.from(html.matchAll(/\sid="([^"]*)"/g), (m) => decodeEntities(m[1])));

// The status of a request sent exactly as written: fetch() would resolve "..", "%2e%2e" and the
// like before sending, and these are what the route must refuse itself.
function rawStatus(port, path) {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => {
      sock.end(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    });
    let data = '';
    sock.setEncoding('latin1');
    sock.on('data', (d) => (data += d));
    sock.on('end', () => resolve(Number((/^HTTP\/1\.1 (\d{3})/.exec(data) || [])[1])));
    sock.on('error', reject);
  });
}

// Fetches each URL once.
const fetched = new Map();
async function get(url) {
  if (!fetched.has(url)) {
    fetched.set(url, (async () => {
      const r = await fetch(url, { redirect: 'manual' });
      return { status: r.status, type: r.headers.get('content-type') || '', body: await r.text() };
    })());
  }
  return fetched.get(url);
}

// Every link of a page that stays on this server must answer 200, and its fragment must exist.
async function checkLinks(label, url, html, origin) {
  let checked = 0;
  const bad = [];
  for (const href of links(html)) {
    if (href.startsWith('data:') || href.startsWith('mailto:')) continue;
    const target = new URL(href, url);
    if (target.origin !== origin) continue; // the outside world is not reachable from a test
    const frag = target.hash ? decodeURIComponent(target.hash.slice(1)) : '';
    target.hash = '';
    const r = await get(target.href);
    checked++;
    if (r.status !== 200) {
      bad.push(`${href} -> ${r.status}`);
    } else if (frag && !ids(r.body).has(frag)) {
      bad.push(`${href}: no element with id "${frag}" on ${target.pathname}`);
    }
  }
  t.check(`${label}: its ${checked} internal links answer 200 and their fragments exist`, bad.length === 0,
          bad.join('; '));
}

async function main() {
  const names = noteNames();
  t.check('docs/notes has an index (README.md) and notes', names.includes('README') && names.length > 1,
          names.join(', '));
  const server = await startTincan({ args: ['--web', join(SRC, 'web'), '--notes', NOTES_DIR] });
  const base = `http://127.0.0.1:${server.port}`;
  try {
    const index = await get(`${base}/notes/`);
    for (const name of names) {
      const url = pageUrl(base, name);
      const md = readFileSync(join(NOTES_DIR, `${name}.md`), 'utf8');
      const r = await get(url);
      t.check(`${name}: 200 text/html`, r.status === 200 && r.type.startsWith('text/html'),
              `status ${r.status}, ${r.type}`);
      if (r.status !== 200) continue;

      // The <title> is the note's first heading, escaped.
      const h1 = /^# (.+)$/m.exec(md);
      const title = /<title>([^<]*)<\/title>/.exec(r.body);
      t.check(`${name}: the title is its heading`, h1 && title && decodeEntities(title[1]).startsWith(h1[1].replace(/[*`_]/g, '')),
              `${title && title[1]} vs ${h1 && h1[1]}`);
      t.check(`${name}: rendered from Markdown (headings have ids, no Markdown left)`,
              /<h1 id="/.test(r.body) && !/^#{1,6} /m.test(r.body.replace(/<pre>[\s\S]*?<\/pre>/g, '')),
              r.body.slice(0, 300));
      t.check(`${name}: uses the site's style`, r.body.includes('href="../style.css"'));

      // Every repository path the note names exists.
      const missing = [];
      let named = 0;
      for (const m of md.matchAll(REPO_PATH_RE)) {
        named++;
        const p = m[1].replace(/[.]+$/, '');
        if (!existsSync(join(SRC, p))) missing.push(p);
      }
      t.check(`${name}: the ${named} repository paths it names exist`, missing.length === 0, missing.join(', '));

      // A note links only to pages that exist, and the index lists every note.
      await checkLinks(name, url, r.body, base);
      if (name !== 'README') {
        t.check(`${name}: listed in the index`, index.body.includes(`href="${name}"`));
      }
    }

    // The demo pages link into the notes (and elsewhere on the site): those links must work too.
    const demos = readdirSync(join(SRC, 'web'), { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(SRC, 'web', d.name, 'index.html')))
      .map((d) => `/${d.name}/`);
    for (const path of ['/', ...demos]) {
      const r = await get(`${base}${path}`);
      t.eq(`demo page ${path}: 200`, 200, r.status);
      await checkLinks(`demo page ${path}`, `${base}${path}`, r.body, base);
    }
    t.check('the landing page links the notes', (await get(`${base}/`)).body.includes('href="notes/"'));

    // The edges of the route.
    let r = await fetch(`${base}/notes`, { redirect: 'manual' });
    t.check('/notes redirects to /notes/', r.status === 301 && r.headers.get('location') === '/notes/',
            `${r.status} ${r.headers.get('location')}`);
    r = await fetch(`${base}/notes/tcp.md`, { redirect: 'manual' });
    t.check('/notes/tcp.md (a repository link) redirects to /notes/tcp',
            r.status === 301 && r.headers.get('location') === '/notes/tcp', `${r.status} ${r.headers.get('location')}`);
    for (const bad of ['/notes/no-such-note', '/notes/README', '/notes/..%2f..%2fREADME', '/notes/%2e%2e',
                       '/notes/../README', '/notes/..', '/notes/Tcp', '/notes/tcp/', '/notes/.hidden',
                       '/notes/tcp%00', '/notes/%74cp', `/notes/${'a'.repeat(300)}`]) {
      t.eq(`${bad.slice(0, 40)}: 404`, 404, await rawStatus(server.port, bad));
    }
    r = await fetch(`${base}/notes/`, { method: 'POST', body: 'x' });
    t.check('POST /notes/: 405 with Allow', r.status === 405 && /GET/.test(r.headers.get('allow') || ''),
            `${r.status} ${r.headers.get('allow')}`);
    r = await fetch(`${base}/notes/tcp`, { method: 'HEAD' });
    const etag = r.headers.get('etag');
    t.check('HEAD /notes/tcp: 200 with a length and an ETag',
            r.status === 200 && Number(r.headers.get('content-length')) > 1000 && !!etag,
            `${r.status} ${r.headers.get('content-length')} ${etag}`);
    r = await fetch(`${base}/notes/tcp`, { headers: { 'If-None-Match': etag } });
    t.eq('a matching If-None-Match: 304', 304, r.status);
    r = await fetch(`${base}/notes/tcp?utm=1`);
    t.eq('a query string does not change the page', 200, r.status);
  } catch (e) {
    t.bad('notes session', e.stack || String(e));
  } finally {
    await stopAndCheck(t, server);
  }
  t.summary();
}

main().catch((e) => {
  t.bad('unexpected error', e.stack);
  t.summary();
}).finally(() => setTimeout(() => process.exit(process.exitCode), 100));
