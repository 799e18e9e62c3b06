// Runs examples/browser/page.mjs in headless Chromium: bundles it for the browser (esbuild), serves the page on
// http://127.0.0.1:PAGE_PORT (an origin the service must allow: `--cors-origin http://127.0.0.1:PAGE_PORT`), opens it
// in Chromium with the parameters in the URL's fragment, prints the steps the page reports and exits 0 when the page
// reports success (1 on failure, or after 120 s without an outcome).
//
//   node examples/browser/run.mjs PAGE_PORT SERVICE_URL NODE_URL ACCOUNT OWNER_PRIVATE_KEY TOKEN
//
// ACCOUNT is a deployed, funded KeyscopeAccount of OWNER_PRIVATE_KEY holding at least 25 units of TOKEN. Chromium is
// $KEYSCOPE_CHROMIUM, else `chromium` on the PATH (Debian's package: script/chromium.sh installs it).

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const [pagePort, serviceUrl, nodeUrl, account, ownerKey, token] = process.argv.slice(2);
if (!token) {
  console.error('usage: node examples/browser/run.mjs PAGE_PORT SERVICE_URL NODE_URL ACCOUNT OWNER_PRIVATE_KEY TOKEN');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const TIMEOUT_MS = 120_000;

const bundle = await build({
  entryPoints: [join(here, 'page.mjs')],
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'chrome120',
  write: false,
  logLevel: 'silent',
});
const files = {
  '/': { type: 'text/html', body: readFileSync(join(here, 'index.html')) },
  '/page.js': { type: 'text/javascript', body: bundle.outputFiles[0].contents },
};

let finish;
const outcome = new Promise((resolve) => { finish = resolve; });

/** The page's server: its two files, and the steps and outcome it reports. */
const server = createServer((request, response) => {
  if (request.method === 'GET' && files[request.url]) {
    const file = files[request.url];
    response.writeHead(200, { 'content-type': file.type }).end(file.body);
    return;
  }
  if (request.method === 'POST' && (request.url === '/log' || request.url === '/result')) {
    let text = '';
    request.on('data', (chunk) => { text += chunk; });
    request.on('end', () => {
      response.writeHead(204).end();
      let body;
      try {
        body = JSON.parse(text);
      } catch (error) {
        finish({ ok: false, error: `the page sent ${request.url} a body that is not JSON: ${error.message}` });
        return;
      }
      if (request.url === '/log') console.log(`page: ${body.text}`);
      else finish(body);
    });
    return;
  }
  response.writeHead(404).end();
});
await new Promise((resolve) => server.listen(Number(pagePort), '127.0.0.1', resolve));

const profile = mkdtempSync(join(tmpdir(), 'keyscope-chromium-'));
const fragment = new URLSearchParams({ service: serviceUrl, node: nodeUrl, account, owner: ownerKey, token });
// As root (CI containers) Chromium runs only without its sandbox; the page is our own.
const sandbox = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
// Its own process group (detached), so that the whole of it (renderer, GPU and utility processes) is killed.
const chromium = spawn(process.env.KEYSCOPE_CHROMIUM || 'chromium', [
  '--headless=new',
  ...sandbox,
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--no-first-run',
  '--no-default-browser-check',
  `--user-data-dir=${profile}`,
  `http://127.0.0.1:${pagePort}/#${fragment}`,
], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
/** Kills Chromium's process group (nothing when it has exited). */
function killChromium() {
  try {
    process.kill(-chromium.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
// However this script ends (an exception, a signal from the test runner), no Chromium is left behind.
process.on('exit', killChromium);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(1));
}
let chromiumErrors = '';
chromium.stderr.on('data', (chunk) => { chromiumErrors = (chromiumErrors + chunk).slice(-4000); });
chromium.on('error', (error) => finish({ ok: false, error: `Chromium did not start: ${error.message}` }));
chromium.on('exit', (code) => finish({ ok: false, error: `Chromium exited (${code}) before the page reported:\n${chromiumErrors}` }));
const timer = setTimeout(() => finish({ ok: false, error: `no outcome after ${TIMEOUT_MS / 1000} s` }), TIMEOUT_MS);

const result = await outcome;
clearTimeout(timer);
chromium.removeAllListeners('exit');
if (chromium.exitCode === null && chromium.signalCode === null) {
  const exited = new Promise((resolve) => chromium.once('exit', resolve));
  killChromium();
  await exited;
}
server.close();
rmSync(profile, { recursive: true, force: true });
if (result.ok) {
  console.log('browser: the page granted and used a session through the service');
  process.exit(0);
}
console.error(`browser: the page failed: ${result.error}`);
process.exit(1);
