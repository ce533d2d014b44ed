#!/usr/bin/env node
// Starts the release Keyport server for the Playwright run (config.webServer).
//
// - A fresh data folder per run: <os.tmpdir()>/keyport-e2e-XXXXXX, with a SQLite
//   database in it. Its path goes to end2end/test-results/.e2e-data-dir so that
//   global-setup.ts and the specs can find it (same folder, same database).
// - The binary is <repo>/target/release/keyport (built by `cargo leptos build
//   --release`); set KEYPORT_BIN to use another one.
// - Its output is copied to end2end/test-results/server.log (see signUp in tests/fixtures.ts).
// - SIGTERM/SIGINT are forwarded to the server; we exit with its exit code.
//   The data folder is removed afterwards unless KEYPORT_E2E_KEEP_DATA=1.
//
// Keep the environment below in sync with serverEnv() in tests/fixtures.ts.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const END2END_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REPO_ROOT = path.resolve(END2END_DIR, '..');
const RESULTS_DIR = path.join(END2END_DIR, 'test-results');
const DATA_DIR_FILE = path.join(RESULTS_DIR, '.e2e-data-dir');
const LISTEN = '127.0.0.1:3100';

const bin = process.env.KEYPORT_BIN
  ? path.resolve(process.env.KEYPORT_BIN)
  : path.join(REPO_ROOT, 'target', 'release', 'keyport');

if (!fs.existsSync(bin)) {
  console.error(
    `start-server: ${bin} does not exist. Build it first with \`cargo leptos build --release --split\` ` +
      '(from the repository root), or set KEYPORT_BIN.',
  );
  process.exit(1);
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyport-e2e-'));
fs.mkdirSync(RESULTS_DIR, { recursive: true });
fs.writeFileSync(DATA_DIR_FILE, `${dataDir}\n`);

// Helper variables of this script must not reach the server: it reads every
// KEYPORT_* variable as configuration and rejects unknown ones.
const inherited = { ...process.env };
delete inherited.KEYPORT_BIN;
delete inherited.KEYPORT_E2E_KEEP_DATA;

const env = {
  ...inherited,
  KEYPORT_LISTEN: LISTEN,
  KEYPORT_DATA_DIR: dataDir,
  KEYPORT_DATABASE_URL: `sqlite://${dataDir}/e2e.db`,
  KEYPORT_PUBLIC_URL: `http://${LISTEN}`,
  // Short, so the specs see the step-up dialog after a few seconds.
  KEYPORT_STEP_UP_WINDOW_SECS: '5',
  LEPTOS_SITE_ROOT: path.join(REPO_ROOT, 'target', 'site'),
  LEPTOS_OUTPUT_NAME: 'keyport',
  RUST_LOG: 'info',
  // The gateway, for gateway.spec.ts, whose upstream listens on loopback.
  KEYPORT_GATEWAY_LISTEN: '127.0.0.1:3102',
  KEYPORT_GATEWAY_ALLOW_INTERNAL_UPSTREAMS: 'true',
  // The OpenID provider of oidc/provider.mjs (started by playwright.config.ts).
  KEYPORT_OIDC_PROVIDERS:
    '[{id="test", label="Test IdP", issuer="http://127.0.0.1:3101", client_id="keyport", ' +
    'client_secret="keyport-e2e-secret", scopes=["openid", "email", "profile", "groups"], ' +
    'admin_values=["keyport-admins"]}]',
};

console.error(`start-server: ${bin} serve (data: ${dataDir})`);
// The server's output goes to the console and to test-results/server.log, where the
// specs find what it logs instead of mailing (no SMTP here), such as sign-up links.
const log = fs.createWriteStream(path.join(RESULTS_DIR, 'server.log'));
const child = spawn(bin, ['serve'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
for (const [from, to] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
  from.on('data', (chunk) => {
    to.write(chunk);
    log.write(chunk);
  });
}

function cleanup() {
  if (process.env.KEYPORT_E2E_KEEP_DATA === '1') {
    console.error(`start-server: kept the data folder ${dataDir}`);
    return;
  }
  try {
    fs.rmSync(dataDir, { recursive: true, force: true });
  } catch (err) {
    console.error(`start-server: could not remove ${dataDir}: ${err.message}`);
  }
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  });
}

child.on('error', (err) => {
  console.error(`start-server: cannot start ${bin}: ${err.message}`);
  cleanup();
  process.exit(1);
});

child.on('exit', (code, signal) => {
  cleanup();
  if (code !== null) process.exit(code);
  // Killed by a signal: report it the shell way (128 + signal number).
  const number = os.constants.signals[signal] ?? 15;
  console.error(`start-server: server stopped by ${signal}`);
  process.exit(128 + number);
});
