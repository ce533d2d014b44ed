// Shared constants and helpers for the Keyport browser tests.
import { expect, request, type Locator, type Page } from '@playwright/test';
import * as OTPAuth from 'otpauth';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const BASE_URL = 'http://127.0.0.1:3100';
export const LISTEN = '127.0.0.1:3100';
/** The gateway's listener (scripts/start-server.mjs sets it). */
export const GATEWAY_URL = 'http://127.0.0.1:3102';

/** Every seeded user has this password. */
export const PASSWORD = 'correct horse battery staple';

export type Role = 'admin' | 'publisher' | 'developer';

export interface SeedUser {
  email: string;
  role: Role;
  password: string;
}

/** Users created by global-setup.ts through `keyport user create`. */
export const USERS = {
  admin: { email: 'admin@example.com', role: 'admin', password: PASSWORD },
  publisher: { email: 'publisher@example.com', role: 'publisher', password: PASSWORD },
  developer: { email: 'dev@example.com', role: 'developer', password: PASSWORD },
  // The catalog journey's own people (other specs change the seeded ones' MFA and roles).
  apiPublisher: { email: 'apis@example.com', role: 'publisher', password: PASSWORD },
  apiDeveloper: { email: 'builder@example.com', role: 'developer', password: PASSWORD },
  approver: { email: 'approver@example.com', role: 'admin', password: PASSWORD },
  // Publishes the APIs specs make for themselves (publishedApi); no other spec signs in as it.
  fixturePublisher: { email: 'fixtures@example.com', role: 'publisher', password: PASSWORD },
  // The no-JavaScript catalog journey's developer.
  plainDeveloper: { email: 'plain@example.com', role: 'developer', password: PASSWORD },
} as const satisfies Record<string, SeedUser>;

export const ALL_USERS: readonly SeedUser[] = Object.values(USERS);

/** The OpenID provider of oidc/provider.mjs, as Keyport's provider `test`. */
export const OIDC_ISSUER = 'http://127.0.0.1:3101';
export const OIDC_PROVIDERS =
  `[{id="test", label="Test IdP", issuer="${OIDC_ISSUER}", client_id="keyport", ` +
  'client_secret="keyport-e2e-secret", scopes=["openid", "email", "profile", "groups"], ' +
  'admin_values=["keyport-admins"]}]';

export const END2END_DIR = path.resolve(__dirname, '..');
export const REPO_ROOT = path.resolve(END2END_DIR, '..');
export const SCREENSHOT_DIR = path.join(END2END_DIR, 'screenshots');
/** Written by scripts/start-server.mjs: the server's fresh data folder. */
export const DATA_DIR_FILE = path.join(END2END_DIR, 'test-results', '.e2e-data-dir');

/** Written by scripts/start-server.mjs: everything the server printed. */
export const SERVER_LOG = path.join(END2END_DIR, 'test-results', 'server.log');

/**
 * The link of the sign-up email for `email`. There is no SMTP server in these tests, so
 * Keyport writes the email to its log, as it does on any portal without SMTP.
 */
export async function signUpLink(email: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const log = fs.existsSync(SERVER_LOG) ? fs.readFileSync(SERVER_LOG, 'utf8') : '';
    const at = log.lastIndexOf(`to=${email}`);
    if (at >= 0) {
      const link = /(http:\/\/\S+\/sign-up\/confirm\?token=[A-Za-z0-9_-]+)/.exec(log.slice(at));
      if (link) return link[1];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no sign-up link for ${email} in ${SERVER_LOG}`);
}

/** Signs up through the form and the emailed link; ends signed in on the dashboard. */
export async function signUp(page: Page, name: string, email: string, password = PASSWORD) {
  await page.goto('/sign-up');
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await confirmSignUp(page, email);
}

/** After the sign-up form: "check your inbox", then the link, then the account. */
export async function confirmSignUp(page: Page, email: string) {
  await expect(page.getByText('Check your inbox')).toBeVisible();
  await page.goto(await signUpLink(email));
  await page.getByRole('button', { name: 'Create my account' }).click();
  await page.waitForURL('**/dashboard');
}

/** The server's data folder for this run (KEYPORT_DATA_DIR). */
export function dataDir(): string {
  const dir = fs.readFileSync(DATA_DIR_FILE, 'utf8').trim();
  if (!dir) throw new Error(`${DATA_DIR_FILE} is empty`);
  return dir;
}

/** The keyport binary (KEYPORT_BIN overrides target/release/keyport). */
export function keyportBin(): string {
  return process.env.KEYPORT_BIN
    ? path.resolve(process.env.KEYPORT_BIN)
    : path.join(REPO_ROOT, 'target', 'release', 'keyport');
}

/**
 * The environment the server runs with, for running `keyport` CLI commands
 * against the same database. Keep in sync with scripts/start-server.mjs.
 */
export function serverEnv(dir: string = dataDir()): NodeJS.ProcessEnv {
  const inherited: NodeJS.ProcessEnv = { ...process.env };
  // The server treats every KEYPORT_* variable as configuration and rejects unknown ones.
  delete inherited.KEYPORT_BIN;
  delete inherited.KEYPORT_E2E_KEEP_DATA;
  return {
    ...inherited,
    KEYPORT_LISTEN: LISTEN,
    KEYPORT_DATA_DIR: dir,
    KEYPORT_DATABASE_URL: `sqlite://${dir}/e2e.db`,
    KEYPORT_PUBLIC_URL: BASE_URL,
    KEYPORT_STEP_UP_WINDOW_SECS: '5',
    KEYPORT_GATEWAY_LISTEN: '127.0.0.1:3102',
    KEYPORT_GATEWAY_ALLOW_INTERNAL_UPSTREAMS: 'true',
    LEPTOS_SITE_ROOT: path.join(REPO_ROOT, 'target', 'site'),
    LEPTOS_OUTPUT_NAME: 'keyport',
    RUST_LOG: 'info',
    KEYPORT_OIDC_PROVIDERS: OIDC_PROVIDERS,
  };
}

/** Signs in through the form and waits for the dashboard. */
export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/sign-in');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(/\/dashboard(?:[?#]|$)/);
}

/**
 * Opens `url` and waits until the page is hydrated: a page whose code loads on demand
 * (app/src/routes.rs) hydrates once its chunks are in, and until then its forms work as
 * they do without JavaScript. For pages of a context with JavaScript on.
 */
export async function open(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

/**
 * Opens a header menu (a <details> disclosure) so that its links can be clicked: the
 * Admin menu (Users, Audit log, Keys, Settings) or the account menu (Account, Security,
 * Sessions). Does nothing when it is open already.
 */
export async function openMenu(page: Page, menu: 'admin' | 'account'): Promise<void> {
  const details = page.locator('header details').filter({
    has: page.locator(`summary[aria-controls="${menu}-menu"]`),
  });
  if (!(await details.evaluate((d) => (d as HTMLDetailsElement).open))) {
    await details.locator('summary').click();
  }
  await expect(details.locator(`#${menu}-menu`)).toBeVisible();
}

export const openAdminMenu = (page: Page) => openMenu(page, 'admin');
export const openAccountMenu = (page: Page) => openMenu(page, 'account');

/** Saves a full-page screenshot to end2end/screenshots/<name>.png. */
export async function shot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** The current 30-second TOTP step. */
export function currentStep(): number {
  return Math.floor(Date.now() / 30_000);
}

/**
 * A code for the step after `lastStep` (the server accepts each step once, and at most one
 * step ahead of its clock): waits for real time to catch up when needed. Returns the code and
 * the step it used.
 */
export async function nextCode(secret: string, lastStep: number): Promise<{ code: string; step: number }> {
  const step = Math.max(lastStep + 1, currentStep() - 1);
  while (step > currentStep() + 1) await new Promise((r) => setTimeout(r, 500));
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' });
  return { code: totp.generate({ timestamp: step * 30_000 + 1_000 }), step };
}

/** Answers the open step-up dialog with the code of the step after `last` (then updated). */
export async function stepUp(page: Page, secret: string, last: { step: number }): Promise<void> {
  const dialog = page.getByRole('dialog', { name: "Confirm it's you" });
  await expect(dialog).toBeVisible();
  const { code, step } = await nextCode(secret, last.step);
  last.step = step;
  await dialog.getByLabel('Authentication code').fill(code);
  await dialog.getByRole('button', { name: 'Confirm and continue' }).click();
  await expect(dialog).toBeHidden();
}

/**
 * After a sensitive action while an earlier step-up may still be fresh (the window is 5 s
 * in tests) or may have lapsed (a slow machine): waits until `done` shows or the step-up
 * dialog opens, answers the dialog if it did, then waits for `done`.
 */
export async function stepUpIfAsked(page: Page, secret: string, last: { step: number }, done: Locator): Promise<void> {
  const dialog = page.getByRole('dialog', { name: "Confirm it's you" });
  await expect(done.or(dialog).first()).toBeVisible();
  if (await dialog.isVisible()) await stepUp(page, secret, last);
  await expect(done).toBeVisible();
}

/** The TOTP code for `secret` (base32) at now + `offsetSeconds`. */
export function totpCode(secret: string, offsetSeconds = 0): string {
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' });
  return totp.generate({ timestamp: Date.now() + offsetSeconds * 1000 });
}

/**
 * Turns on TOTP for the signed-in user through the Security page, reading the key from the
 * page like a person typing it into their app. Returns the key and the recovery codes.
 */
export async function enrolMfa(page: Page): Promise<{ secret: string; recoveryCodes: string[] }> {
  await page.goto('/account/security');
  // Enrolment shows a secret once, which needs the hydrated page (before it, the form is
  // refused, as it is without JavaScript).
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
  const keyField = page.getByLabel('Or enter this key by hand');
  await expect(keyField).toBeVisible();
  const secret = await keyField.inputValue();
  await page.getByLabel('Enter the 6-digit code it shows').fill(totpCode(secret));
  await page.getByRole('button', { name: 'Turn on' }).click();
  const list = page.getByRole('list', { name: 'Recovery codes' });
  await expect(list).toBeVisible();
  const recoveryCodes = (await list.getByRole('listitem').allTextContents()).map((s) => s.trim());
  expect(recoveryCodes).toHaveLength(10);
  return { secret, recoveryCodes };
}

/** What `publishedApi` can add to the API it publishes. */
export interface ApiExtras {
  description?: string;
  tags?: string;
  /** An OpenAPI document (YAML or JSON). */
  openapi?: string;
  /** Where the gateway forwards its calls (default: a name that resolves nowhere). */
  upstream?: string;
}

/**
 * Publishes an API `slug` with one automatic plan "Free" (scopes `pets:read pets:write`,
 * no limits) through the server functions, as the hydrated forms call them, so that a spec
 * has an API of its own whatever ran before it. Its publisher is `USERS.fixturePublisher`.
 */
export async function publishedApi(slug: string, name: string, extras: ApiExtras = {}): Promise<void> {
  const ctx = await request.newContext({ baseURL: BASE_URL });
  try {
    const call = async (fn: string, form: Record<string, string>) => {
      const res = await ctx.post(`/api/${fn}`, {
        form,
        headers: { Accept: 'application/json', Origin: BASE_URL },
      });
      if (!res.ok()) throw new Error(`${fn}: HTTP ${res.status()} ${await res.text()}`);
      return res.json();
    };
    const who = USERS.fixturePublisher;
    await call('sign_in', { email: who.email, password: who.password });
    await call('save_api', {
      name, slug, version: 'v1', summary: `${name}, for one spec`,
      description: extras.description ?? '', tags: extras.tags ?? '',
      upstream_url: extras.upstream ?? 'https://up.internal', visibility: 'public',
    });
    const api = await call('api_for_edit', { slug });
    if (extras.openapi) await call('upload_openapi', { api_id: api.id, document: extras.openapi });
    await call('save_plan', {
      api_id: api.id, name: 'Free', description: '', rate_limit: '', rate_period: 'second', burst: '',
      quota: '', quota_period: 'month', approval: 'automatic', scopes: 'pets:read pets:write',
      max_key_lifetime_days: '',
    });
    await call('change_lifecycle', { api_id: api.id, lifecycle: 'published' });
  } finally {
    await ctx.dispose();
  }
}

/** The server function `name`, called with the page's session as a form would. */
export async function call(page: Page, name: string, form: Record<string, string>) {
  const res = await page.request.post(`/api/${name}`, {
    form,
    headers: { Accept: 'application/json', Origin: BASE_URL },
  });
  expect(res.ok(), `${name}: ${res.status()} ${await res.text()}`).toBeTruthy();
  return res.json();
}

/** A service token for the verify API, made with the CLI as an operator makes one. */
export function serviceToken(name: string): string {
  const res = spawnSync(keyportBin(), ['service-token', 'create', '--name', name], {
    cwd: REPO_ROOT,
    env: serverEnv(),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (res.status !== 0) throw new Error(`service-token create failed: ${res.stderr}`);
  return res.stdout.trim();
}
