// Shared pieces of the browser tests: Debian's Chromium (driven by playwright-core) launched with
// a throw-away profile and the flags every test uses, tincan started and stopped around it (with
// tests/interop/lib.mjs), and a page watcher that collects whatever goes wrong on a page.
//
// Env: CHROMIUM (default /usr/bin/chromium), TINCAN_BUILD (where screenshots go), and those of
// tests/interop/lib.mjs. Without Chromium a test is skipped (exit 77), except under CI=true.

import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SRC, startTincan, stopAndCheck } from '../interop/lib.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SHOTS = join(process.env.TINCAN_BUILD || join(SRC, 'build'), 'screenshots');

// The WebRTC switches are left to the tests that need them (withTincanAndChromium's chromiumArgs).
export const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                     '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// False when Chromium is missing: then the test has been marked skipped (exit 77) or, under
// CI=true, failed, and should do nothing more.
export function haveChromium(t) {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') {
    t.bad('Chromium is installed', `${CHROMIUM} is missing (scripts/deps.sh installs it)`);
    t.summary();
    return false;
  }
  console.log(`SKIP - ${CHROMIUM} is not installed (scripts/deps.sh installs it); under CI=true this fails`);
  process.exitCode = 77;
  return false;
}

// Collects, from now on, the page's console errors and uncaught exceptions and, with requests,
// its failed requests and 4xx/5xx responses. Returns the list, which grows as things happen.
export function watchPage(page, { requests = false } = {}) {
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e}`));
  if (requests) {
    page.on('requestfailed', (r) => {
      // A long-poll still waiting when the page closes is cancelled, which is no fault.
      if (!page.isClosed()) problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`);
    });
    page.on('response', (r) => { if (r.status() >= 400) problems.push(`${r.status()} for ${r.url()}`); });
  }
  return problems;
}

// Playwright passes its own --disable-features, and Chromium reads only the last one given: a
// test that disables more features starts Chromium through this script, which passes one
// --disable-features with all of them.
const MERGE_FEATURES = `#!/bin/sh
features=
for arg do
  shift
  case $arg in
    --disable-features=*) features="\${features:+$features,}\${arg#--disable-features=}" ;;
    *) set -- "$@" "$arg" ;;
  esac
done
exec "@CHROMIUM@" "$@" \${features:+"--disable-features=$features"}
`;

// Starts tincan with args and Chromium with a fresh profile, and runs body(context, server).
// chromiumArgs go after ARGS (a --disable-features among them adds to Playwright's list).
// Whatever body throws fails the 'browser session' check; then the browser is closed, its profile
// removed and tincan stopped, which must go cleanly (stopAndCheck).
export async function withTincanAndChromium(t, args, body, { chromiumArgs = [] } = {}) {
  const { chromium } = await import('playwright-core');
  const server = await startTincan({ args });
  const dir = mkdtempSync(join(tmpdir(), 'tincan-chromium-'));
  let context = null;
  try {
    let executablePath = CHROMIUM;
    if (chromiumArgs.some((a) => a.startsWith('--disable-features='))) {
      executablePath = join(dir, 'chromium');
      writeFileSync(executablePath, MERGE_FEATURES.replace('@CHROMIUM@', CHROMIUM));
      chmodSync(executablePath, 0o755);
    }
    context = await chromium.launchPersistentContext(join(dir, 'profile'), { executablePath, headless: true,
                                                     args: [...ARGS, ...chromiumArgs], timeout: 60000 });
    await body(context, server);
  } catch (e) {
    t.bad('browser session', e.stack || String(e));
  } finally {
    if (context) await context.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    await stopAndCheck(t, server);
  }
}

// Runs a test's main(): an unexpected throw is a failure, and the process exits once it is done
// (playwright may leave handles open).
export function runMain(t, main) {
  main().catch((e) => {
    t.bad('unexpected error', e.stack);
    t.summary();
  }).finally(() => setTimeout(() => process.exit(process.exitCode), 100));
}
