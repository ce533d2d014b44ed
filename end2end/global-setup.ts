// Runs once after Playwright started the server (webServer in
// playwright.config.ts): waits until it is ready, then seeds the users the
// specs sign in as, with the same binary and environment as the server.
import { spawnSync } from 'node:child_process';
import { ALL_USERS, BASE_URL, REPO_ROOT, dataDir, keyportBin, serverEnv } from './tests/fixtures';

const READY_URL = `${BASE_URL}/readyz`;
const READY_TIMEOUT_MS = 60_000;
const POLL_MS = 250;

async function waitUntilReady(): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(READY_URL, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(`${READY_URL} did not answer 200 within ${READY_TIMEOUT_MS / 1000} s (last: ${last})`);
}

function createUser(email: string, role: string, password: string, env: NodeJS.ProcessEnv): void {
  const bin = keyportBin();
  const args = ['user', 'create', '--email', email, '--role', role, '--password-stdin'];
  const res = spawnSync(bin, args, {
    cwd: REPO_ROOT,
    env,
    input: `${password}\n`,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (res.error) throw new Error(`cannot run ${bin}: ${res.error.message}`);
  if (res.status !== 0) {
    throw new Error(
      `\`keyport ${args.join(' ')}\` failed (exit ${res.status ?? res.signal}):\n${res.stdout}${res.stderr}`,
    );
  }
}

export default async function globalSetup(): Promise<void> {
  await waitUntilReady();
  const env = serverEnv(dataDir());
  for (const user of ALL_USERS) createUser(user.email, user.role, user.password, env);
}
