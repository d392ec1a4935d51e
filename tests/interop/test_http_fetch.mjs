// Drives the tincan binary with Node's own HTTP client (global fetch): concurrency, conditional
// requests, a large body, and a request body over the limit.
//
// Env: TINCAN_BIN (the binary; default build/tincan), TINCAN_SRC (the repo root).
// Uses no npm packages. Prints one line per check and exits non-zero when any fails.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = process.env.TINCAN_SRC || resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.TINCAN_BIN || join(SRC, 'build', 'tincan');
const BODY_LIMIT = 1000;
const FETCH_TIMEOUT_MS = 20000;
const WHOLE_TEST_MS = 150000;

let passed = 0;
let failed = 0;
let child = null;
let stderr = '';
const tmp = mkdtempSync(join(tmpdir(), 'tincan-fetch-'));

function ok(desc) {
  passed++;
  console.log(`ok   - ${desc}`);
}
function bad(desc, detail) {
  failed++;
  console.log(`FAIL - ${desc}${detail ? ': ' + detail : ''}`);
}
function checkEq(desc, expected, got) {
  if (expected === got) ok(desc);
  else bad(desc, `expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
}
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

function cleanup() {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanup);

// A server that hangs must not hang the test.
const watchdog = setTimeout(() => {
  console.log(`FAIL - the whole test took over ${WHOLE_TEST_MS} ms`);
  cleanup();
  process.exit(1);
}, WHOLE_TEST_MS);
watchdog.unref();

function startServer(web) {
  return new Promise((resolvePort, reject) => {
    child = spawn(BIN, ['--host', '127.0.0.1', '--port', '0', '--web', web,
                        '--body-limit', String(BODY_LIMIT)],
                  { stdio: ['ignore', 'ignore', 'pipe'] });
    const timer = setTimeout(() => reject(new Error('no "listening on" line within 15 s')), 15000);
    closed = new Promise((resolveClose) => {
      child.on('close', (code, signal) => resolveClose({ code, signal }));
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const m = /listening on http:\/\/[^ ,]+:(\d+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`tincan exited early (code ${code}, signal ${signal}): ${stderr}`));
    });
  });
}

// 'close' comes after the child's stderr is drained, so a sanitizer report at exit is not missed.
let closed = null;
function waitExit(ms) {
  return new Promise((resolveExit) => {
    const timer = setTimeout(() => resolveExit(null), ms);
    closed.then((how) => {
      clearTimeout(timer);
      resolveExit(how);
    });
  });
}

const get = (url, init = {}) => fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), ...init });

async function main() {
  const web = join(tmp, 'web');
  mkdirSync(join(web, 'sub'), { recursive: true });
  const index = '<!doctype html>\n<html><head><meta charset="utf-8"><title>fetch test</title></head>' +
                '<body><p>hello from the fetch test</p></body></html>\n';
  writeFileSync(join(web, 'index.html'), index);
  writeFileSync(join(web, 'data.json'), '{"ok":true}\n');
  const big = randomBytes(5 * 1024 * 1024);
  writeFileSync(join(web, 'big.bin'), big);

  const port = await startServer(web);
  ok(`started on port ${port}`);
  const base = `http://127.0.0.1:${port}`;

  // GET /
  let res = await get(`${base}/`);
  checkEq('GET / status', 200, res.status);
  const ct = res.headers.get('content-type') || '';
  if (ct.startsWith('text/html')) ok(`GET / content-type (${ct})`);
  else bad('GET / content-type', ct);
  const body = await res.text();
  checkEq('GET / body is index.html', index, body);
  checkEq('GET / content-length', String(Buffer.byteLength(index)), res.headers.get('content-length'));
  const etag = res.headers.get('etag');
  if (etag && /^(W\/)?".*"$/.test(etag)) ok(`GET / ETag (${etag})`);
  else bad('GET / ETag', String(etag));
  if (res.headers.get('last-modified')) ok('GET / Last-Modified present');
  else bad('GET / Last-Modified present');

  // 100 at once
  const results = await Promise.allSettled(
    Array.from({ length: 100 }, () => get(`${base}/`).then(async (r) => [r.status, await r.text()])));
  const errors = results.filter((r) => r.status === 'rejected');
  const statuses = results.filter((r) => r.status === 'fulfilled').map((r) => r.value[0]);
  const bodies = new Set(results.filter((r) => r.status === 'fulfilled').map((r) => r.value[1]));
  if (errors.length) bad('100 concurrent GETs', `${errors.length} failed: ${errors[0].reason}`);
  else if (statuses.some((s) => s !== 200)) bad('100 concurrent GETs all 200', statuses.join(','));
  else if (bodies.size !== 1 || !bodies.has(index)) bad('100 concurrent GETs identical bodies');
  else ok('100 concurrent GETs: all 200 with identical bodies');

  // HEAD
  res = await get(`${base}/data.json`, { method: 'HEAD' });
  checkEq('HEAD /data.json status', 200, res.status);
  checkEq('HEAD /data.json content-length', '12', res.headers.get('content-length'));
  checkEq('HEAD /data.json has no body', 0, (await res.arrayBuffer()).byteLength);

  // Conditional
  res = await get(`${base}/`, { headers: { 'if-none-match': etag } });
  checkEq('If-None-Match with the ETag -> 304', 304, res.status);
  checkEq('304 has no body', 0, (await res.arrayBuffer()).byteLength);
  res = await get(`${base}/`, { headers: { 'if-none-match': '"something-else"' } });
  checkEq('If-None-Match with another tag -> 200', 200, res.status);
  await res.arrayBuffer();

  // 5 MiB
  res = await get(`${base}/big.bin`);
  checkEq('GET /big.bin status', 200, res.status);
  const got = Buffer.from(await res.arrayBuffer());
  checkEq('GET /big.bin length', big.length, got.length);
  checkEq('GET /big.bin sha256', sha256(big), sha256(got));

  // A body over --body-limit
  try {
    res = await get(`${base}/upload`, { method: 'POST', body: 'x'.repeat(BODY_LIMIT * 2),
                                         headers: { 'content-type': 'text/plain' } });
    checkEq(`POST ${BODY_LIMIT * 2} bytes over a ${BODY_LIMIT}-byte limit -> 413`, 413, res.status);
    await res.arrayBuffer().catch(() => {});
  } catch (err) {
    bad(`POST over the body limit -> 413`, `request failed: ${err.cause ? err.cause.code || err.cause : err}`);
  }

  // Still serving after all that
  res = await get(`${base}/`);
  checkEq('GET / afterwards', 200, res.status);
  await res.text();

  // SIGTERM (the client may still hold idle keep-alive connections)
  const t0 = Date.now();
  child.kill('SIGTERM');
  const exit = await waitExit(5000);
  if (!exit) {
    bad('SIGTERM: exits within 5 s', 'still running');
  } else {
    checkEq(`SIGTERM: exit code (${Date.now() - t0} ms)`, 0, exit.code);
  }
  const report = /ERROR: AddressSanitizer|LeakSanitizer|runtime error/.exec(stderr);
  if (report) bad('no sanitizer reports on stderr', stderr.slice(Math.max(0, report.index - 200), report.index + 2000));
  else ok('no sanitizer reports on stderr');
}

try {
  await main();
} catch (err) {
  bad('unexpected error', err && err.stack ? err.stack : String(err));
  if (closed) await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
  if (child && (child.exitCode !== null || child.signalCode !== null)) {
    console.log(`tincan exited (code ${child.exitCode}, signal ${child.signalCode}); its stderr:`);
    console.log(stderr.split('\n').slice(-40).join('\n'));
  }
}
console.log(`${passed + failed} checks, ${failed} failed`);
cleanup();
process.exit(failed ? 1 : 0);
