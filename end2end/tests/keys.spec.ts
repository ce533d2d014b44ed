// A developer issues an API key with step-up MFA, copies it, and a gateway verifies it
// through the verify API; a use-limited key runs out; a revoked key is refused at once.
// Uses "Pet Store" (automatic "Free" plan) published by catalog.spec.ts, which runs first.
import { spawnSync } from 'node:child_process';
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { PASSWORD, REPO_ROOT, currentStep, enrolMfa, keyportBin, nextCode, serverEnv, shot } from './fixtures';

function serviceToken(): string {
  const res = spawnSync(keyportBin(), ['service-token', 'create', '--name', 'e2e gateway'], {
    cwd: REPO_ROOT,
    env: serverEnv(),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (res.status !== 0) throw new Error(`service-token create failed: ${res.stderr}`);
  return res.stdout.trim();
}

async function verify(request: APIRequestContext, token: string, key: string): Promise<string> {
  const res = await request.post('/v1/keys/verify', {
    headers: { Authorization: `Bearer ${token}` },
    data: { key, api: 'pet-store', scope: 'pets:read' },
  });
  expect(res.status()).toBe(200);
  return (await res.json()).code;
}

/** Answers the step-up dialog when it opens. */
async function confirmIfAsked(page: Page, secret: string, last: { step: number }) {
  const dialog = page.getByRole('dialog', { name: "Confirm it's you" });
  try {
    await dialog.waitFor({ state: 'visible', timeout: 3_000 });
  } catch {
    return; // still inside the step-up window
  }
  const { code, step } = await nextCode(secret, last.step);
  last.step = step;
  await dialog.getByLabel('Authentication code').fill(code);
  await dialog.getByRole('button', { name: 'Confirm and continue' }).click();
  await expect(dialog).toBeHidden();
}

async function issueKey(page: Page, name: string, fill: (form: ReturnType<Page['locator']>) => Promise<void>) {
  const card = page.locator('section[data-application="Key demo"]');
  await card.getByText('Issue a key…').click();
  await card.getByLabel('Key name').fill(name);
  await fill(card);
  await card.getByRole('button', { name: 'Issue key' }).click();
}

test('issue with MFA, copy, verify, use up, revoke', async ({ page, request, context }) => {
  test.setTimeout(120_000);
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const token = serviceToken();

  const email = `keys-${Date.now()}@example.com`;
  await page.goto('/sign-up');
  await page.getByLabel('Name').fill('Kay Keys');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL('**/dashboard');
  const { secret } = await enrolMfa(page);
  const last = { step: currentStep() };

  await page.goto('/applications');
  await page.getByLabel('Name').first().fill('Key demo');
  await page.getByRole('button', { name: 'Create application' }).click();
  const card = page.locator('section[data-application="Key demo"]');
  await expect(card.getByText('Keys need an active subscription')).toBeVisible();
  await page.goto('/catalog/pet-store');
  const free = page.locator('div[data-plan="Free"]');
  await free.getByLabel('Application').selectOption({ label: 'Key demo' });
  await free.getByRole('button', { name: 'Subscribe to Free' }).click();
  await expect(page.getByText('Subscribed. Your application can use this API now.')).toBeVisible();

  await page.waitForTimeout(6_000); // past the (5 s, for tests) step-up window
  await page.goto('/applications');
  await issueKey(page, 'CI', async (form) => {
    await form.getByLabel('Environment').selectOption('live');
    await form.getByLabel('Expires after').selectOption({ label: '1 hour' });
    await form.getByLabel('Scopes').fill('pets:read');
  });
  await confirmIfAsked(page, secret, last);
  const reveal = page.getByRole('status').filter({ hasText: 'copy it now' });
  await expect(reveal).toBeVisible();
  const key = await reveal.getByLabel('API key').inputValue();
  expect(key).toMatch(/^kp_live_[0-9A-Za-z]{49}$/);
  await reveal.getByRole('button', { name: 'Copy' }).click();
  await expect(reveal.getByRole('button', { name: 'Copied' })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
  await shot(page, 'key-issued');

  expect(await verify(request, token, key)).toBe('VALID');

  await reveal.getByRole('button', { name: 'I have stored it' }).click();
  await expect(reveal).toBeHidden();
  await page.reload();
  const row = card.locator('li[data-key="CI"]');
  await expect(row.getByText(`${key.slice(0, 12)}…${key.slice(-4)}`)).toBeVisible();
  await expect(page.getByText(key)).toHaveCount(0);
  expect(await page.content()).not.toContain(key);

  // A key good for one use.
  await issueKey(page, 'One-off', async (form) => {
    await form.getByLabel('Maximum uses').fill('1');
    await form.getByLabel('Scopes').fill('pets:read');
  });
  await confirmIfAsked(page, secret, last);
  const oneOff = await page.getByRole('status').filter({ hasText: 'copy it now' }).getByLabel('API key').inputValue();
  expect(await verify(request, token, oneOff)).toBe('VALID');
  expect(await verify(request, token, oneOff)).toBe('EXHAUSTED');

  // Revoking refuses the key at once.
  await page.reload();
  await row.getByText('Revoke…').click();
  await row.getByLabel('Reason').fill('Rotated by hand');
  await row.getByRole('button', { name: 'Revoke key' }).click();
  await confirmIfAsked(page, secret, last);
  await expect(row.getByText('revoked', { exact: true })).toBeVisible();
  await expect(row.getByText('Reason: Rotated by hand')).toBeVisible();
  expect(await verify(request, token, key)).toBe('REVOKED');
  await shot(page, 'keys');
});
