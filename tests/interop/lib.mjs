// Shared pieces of the Node interop and browser tests: a checklist printer, starting and stopping
// the tincan binary (and checking that it stopped cleanly), and running a command to completion.
//
// Env: TINCAN_BIN (default build/tincan), TCWS_BIN (default build/tcws), TINCAN_SRC (the repo).

import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SRC = process.env.TINCAN_SRC || resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const TINCAN_BIN = process.env.TINCAN_BIN || join(SRC, 'build', 'tincan');
export const TCWS_BIN = process.env.TCWS_BIN || join(SRC, 'build', 'tcws');

const SANITIZER_RE = /AddressSanitizer|LeakSanitizer|runtime error/;

// One line per check: "ok   - what" or "FAIL - what: why". summary() exits non-zero on a failure.
export function checklist() {
  const t = { passed: 0, failed: 0 };
  t.ok = (desc) => {
    t.passed++;
    console.log(`ok   - ${desc}`);
  };
  t.bad = (desc, detail) => {
    t.failed++;
    console.log(`FAIL - ${desc}${detail ? ': ' + detail : ''}`);
  };
  t.check = (desc, cond, detail) => (cond ? t.ok(desc) : t.bad(desc, detail));
  t.eq = (desc, expected, got) => {
    if (expected === got) t.ok(desc);
    else t.bad(desc, `expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
  };
  t.summary = () => {
    console.log(`# ${t.passed} passed, ${t.failed} failed`);
    process.exitCode = t.failed ? 1 : 0;
  };
  return t;
}

const children = new Set();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

// A test that hangs must fail, not stall ctest: after ms, report and exit (children are killed).
export function watchdog(ms) {
  setTimeout(() => {
    console.log(`FAIL - the whole test took over ${ms} ms`);
    process.exit(1);
  }, ms).unref();
}

// Starts tincan on a free port; resolves to {port, url, proc, stderr(), stop()}. stop() sends
// SIGTERM and resolves to {code, signal, stderr} once it exits (SIGKILL after 10 s).
export function startTincan({ args = [], tls = false } = {}) {
  return new Promise((resolveStart, reject) => {
    const proc = spawn(TINCAN_BIN, ['--host', '127.0.0.1', '--port', '0', ...args],
                       { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(proc);
    let stderr = '';
    const exited = new Promise((r) => proc.on('close', (code, signal) => r({ code, signal })));
    const timer = setTimeout(() => reject(new Error(`tincan did not say "listening on" in 15 s: ${stderr}`)),
                             15000);
    const scheme = tls ? 'https' : 'http';
    let started = false;
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      stderr += chunk;
      const m = new RegExp(`listening on ${scheme}://[^ ,]+:(\\d+)`).exec(stderr);
      if (m && !started) {
        started = true;
        clearTimeout(timer);
        const port = Number(m[1]);
        resolveStart({
          port,
          proc,
          stderr: () => stderr,
          exited,
          stop: async () => {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
            const k = setTimeout(() => proc.kill('SIGKILL'), 10000);
            const r = await exited;
            clearTimeout(k);
            children.delete(proc);
            return { ...r, stderr };
          },
        });
      }
    });
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.on('exit', (code, signal) => {
      if (started) return;
      clearTimeout(timer);
      reject(new Error(`tincan exited early (code ${code}, signal ${signal}): ${stderr}`));
    });
  });
}

// Stops a server from startTincan and checks it exited 0 with no sanitizer report.
export async function stopAndCheck(t, server, label = 'tincan') {
  const r = await server.stop();
  t.check(`${label} exits 0 on SIGTERM`, r.code === 0,
          `code ${r.code}, signal ${r.signal}; stderr tail: ${r.stderr.slice(-2000)}`);
  const m = SANITIZER_RE.exec(r.stderr);
  t.check(`${label} stderr has no sanitizer report`, !m,
          m ? r.stderr.slice(Math.max(0, m.index - 200), m.index + 3000) : '');
  return r;
}

// Sanitizer reports seen in the stderr of commands started by run()/runLive() (tcws is an
// ASan+UBSan build under `make test`).
const sanitizerHits = [];
export function checkChildSanitizers(t, label = 'commands') {
  t.check(`${label} printed no sanitizer report`, !sanitizerHits.length, sanitizerHits.join('\n'));
}

// Runs a command with input on stdin (a string or Buffer; null keeps stdin open until the process
// ends). Resolves to {code, signal, stdout (Buffer), stderr (string), timedOut}.
export function run(cmd, args, { input = '', timeoutMs = 30000, env } = {}) {
  const l = runLive(cmd, args, { timeoutMs, env });
  if (input !== null) l.proc.stdin.end(input);
  return l.done;
}

// Starts a command and returns {proc, done, stderr()} at once, so the caller can write to its
// stdin or signal it; done resolves like run().
export function runLive(cmd, args, opts = {}) {
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env || process.env });
  children.add(proc);
  const out = [];
  let err = '';
  let timedOut = false;
  proc.stdout.on('data', (d) => out.push(d));
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => (err += d));
  proc.stdin.on('error', () => {});
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill('SIGKILL');
  }, opts.timeoutMs || 30000);
  const done = new Promise((r) => proc.on('close', (code, signal) => {
    clearTimeout(timer);
    children.delete(proc);
    const m = SANITIZER_RE.exec(err);
    if (m) sanitizerHits.push(`${cmd} ${args.join(' ')}: ${err.slice(Math.max(0, m.index - 200), m.index + 2000)}`);
    r({ code, signal, stdout: Buffer.concat(out), stderr: err, timedOut });
  }));
  return { proc, done, stderr: () => err };
}

// Describes a tcws result for a failure message.
export function describeRun(r) {
  return `exit ${r.code}${r.signal ? ' signal ' + r.signal : ''}${r.timedOut ? ' (timed out)' : ''}; ` +
         `stderr: ${JSON.stringify(r.stderr.slice(-600))}`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Rejects if p does not settle within ms.
export function within(ms, p, what = 'operation') {
  let timer;
  return Promise.race([
    p,
    new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${what}: no result in ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}
