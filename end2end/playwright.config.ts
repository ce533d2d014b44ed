import { defineConfig } from '@playwright/test';

// Browser tests for Keyport. Run from this folder with `npx playwright test`
// after `cargo leptos build --release --split` (see .ci/run). Playwright starts the
// release server itself (scripts/start-server.mjs) on a fresh data folder.
//
// The browser is Debian's Chromium (`apt-get install chromium`), not
// Playwright's download (`npx playwright install` cannot work on these
// machines); set CHROMIUM_PATH to use another binary.

const BASE_URL = 'http://127.0.0.1:3100';
const OIDC_ISSUER = 'http://127.0.0.1:3101';

const launchOptions = {
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: [
    // Needed when running as root (CI containers).
    '--no-sandbox',
    '--disable-gpu',
    // Keep Chromium off the (closed) network.
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
};

const NOJS_SPEC = /.*\.nojs\.spec\.ts/;

export default defineConfig({
  testDir: './tests',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 30_000,
  forbidOnly: !!process.env.CI,
  reporter: [['list'], ['json', { outputFile: 'test-results/results.json' }]],
  globalSetup: './global-setup.ts',
  use: {
    baseURL: BASE_URL,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions,
  },
  projects: [
    {
      name: 'chromium',
      testIgnore: NOJS_SPEC,
      use: { javaScriptEnabled: true },
    },
    {
      name: 'no-js',
      testMatch: NOJS_SPEC,
      use: { javaScriptEnabled: false },
    },
  ],
  webServer: [
    // A real OpenID provider (oidc/provider.mjs) for the `test` provider of Keyport. Keyport
    // discovers it on first use, but starting it first keeps the first sign-in fast.
    {
      command: 'node oidc/provider.mjs',
      url: `${OIDC_ISSUER}/.well-known/openid-configuration`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: 'pipe',
      stderr: 'pipe',
      gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 },
    },
    {
      command: 'node scripts/start-server.mjs',
      url: `${BASE_URL}/healthz`,
      reuseExistingServer: false,
      timeout: 120_000,
      stdout: 'pipe',
      stderr: 'pipe',
      // SIGTERM (forwarded to the server) instead of SIGKILL, so the server
      // shuts down cleanly and start-server.mjs can remove its temp folder.
      gracefulShutdown: { signal: 'SIGTERM', timeout: 10_000 },
    },
  ],
});
