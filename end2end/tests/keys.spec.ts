import { spawnSync } from 'node:child_process';
// A developer issues an API key with step-up MFA, copies it, and a gateway verifies it
// through the verify API; a use-limited key runs out; rotating with a grace period keeps
// both keys valid; a temporary key expires; a revoked key is refused at once.
// Publishes its own API (automatic "Free" plan) first.
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import {
  PASSWORD, REPO_ROOT, currentStep, serviceToken, enrolMfa, keyportBin, open, openAdminMenu, publishedApi, serverEnv, shot, signIn, signUp, stepUpIfAsked,
} from './fixtures';

const API = `key-store-${Date.now()}`;


async function verify(request: APIRequestContext, token: string, key: string): Promise<string> {
  const res = await request.post('/v1/keys/verify', {
    headers: { Authorization: `Bearer ${token}` },
    data: { key, api: API, scope: 'pets:read' },
  });
  expect(res.status()).toBe(200);
  return (await res.json()).code;
}

async function issueKey(page: Page, name: string, fill: (form: ReturnType<Page['locator']>) => Promise<void>) {
  const card = page.locator('section[data-application="Key demo"]');
  await card.getByText('Issue a key…').click();
  await card.getByLabel('Key name').fill(name);
  await fill(card);
  await card.getByRole('button', { name: 'Issue key' }).click();
}

test('issue with MFA, copy, verify, use up, rotate, expire, revoke', async ({ page, request, context }) => {
  test.setTimeout(240_000);
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const token = serviceToken('e2e gateway');
  await publishedApi(API, 'Key Store');

  const email = `keys-${Date.now()}@example.com`;
  await signUp(page, 'Kay Keys', email);
  const { secret } = await enrolMfa(page);
  const last = { step: currentStep() };

  await open(page, '/applications');
  await page.getByLabel('Name').first().fill('Key demo');
  await page.getByRole('button', { name: 'Create application' }).click();
  const card = page.locator('section[data-application="Key demo"]');
  await expect(card.getByText('Keys need an active subscription')).toBeVisible();
  await open(page, `/catalog/${API}`);
  const free = page.locator('div[data-plan="Free"]');
  await free.getByLabel('Application').selectOption({ label: 'Key demo' });
  await free.getByRole('button', { name: 'Subscribe to Free' }).click();
  await expect(page.getByText('Subscribed. Your application can use this API now.')).toBeVisible();

  await page.waitForTimeout(6_000); // past the (5 s, for tests) step-up window
  await open(page, '/applications');
  // The issue form shows the server's own messages while it is filled in, before anything
  // is sent; a field not yet edited shows nothing.
  const sent: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/issue_key')) sent.push(r.url());
  });
  await card.getByText('Issue a key…').click();
  await card.getByLabel('Scopes').fill('Pets:Read');
  await expect(card.getByText('"Pets:Read" is not a scope: start with a letter and use a-z, 0-9, : . _ - (like orders:read).')).toBeVisible();
  await card.getByLabel('Allowed IP addresses').fill('10.0.0.0/33');
  await expect(card.getByText('"10.0.0.0/33" is not an IP address or CIDR (like 203.0.113.0/24 or 2001:db8::/32).')).toBeVisible();
  await expect(card.getByLabel('Allowed IP addresses')).toHaveAttribute('aria-invalid', 'true');
  await card.getByLabel('Allowed IP addresses').fill('203.0.113.0/24');
  await expect(card.getByText('is not an IP address or CIDR')).toHaveCount(0);
  await expect(card.getByText('Enter a name')).toHaveCount(0);
  expect(sent).toEqual([]);
  await card.getByLabel('Allowed IP addresses').fill('');
  await card.getByText('Issue a key…').click(); // closes the panel
  await issueKey(page, 'CI', async (form) => {
    await form.getByLabel('Environment').selectOption('live');
    await form.getByLabel('Expires after').selectOption({ label: '1 hour' });
    await form.getByLabel('Scopes').fill('pets:read');
  });
  const reveal = page.getByRole('status').filter({ hasText: 'copy it now' });
  await stepUpIfAsked(page, secret, last, reveal);
  const key = await reveal.getByLabel('API key').inputValue();
  expect(key).toMatch(/^kp_live_[0-9A-Za-z]{49}$/);
  await reveal.getByRole('button', { name: 'Copy' }).click();
  await expect(reveal.getByRole('button', { name: 'Copied' })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
  await shot(page, 'key-issued');

  expect(await verify(request, token, key)).toBe('VALID');

  await reveal.getByRole('link', { name: 'I have stored it' }).click();
  await expect(reveal).toBeHidden();
  await page.reload();
  await expect(card.locator('li[data-key="CI"]').getByText(`${key.slice(0, 12)}…${key.slice(-4)}`)).toBeVisible();
  await expect(page.getByText(key)).toHaveCount(0);
  expect(await page.content()).not.toContain(key);

  // A key good for one use.
  // (Live keys: the API has no sandbox, so a test key would be refused with NO_SANDBOX.)
  await issueKey(page, 'One-off', async (form) => {
    await form.getByLabel('Environment').selectOption('live');
    await form.getByLabel('Maximum uses').fill('1');
    await form.getByLabel('Scopes').fill('pets:read');
  });
  const oneOffShown = page.getByRole('status').filter({ hasText: 'copy it now' });
  await stepUpIfAsked(page, secret, last, oneOffShown);
  const oneOff = await oneOffShown.getByLabel('API key').inputValue();
  expect(await verify(request, token, oneOff)).toBe('VALID');
  expect(await verify(request, token, oneOff)).toBe('EXHAUSTED');

  // Rotating with a day of grace: a new key, and both work while clients move.
  await page.reload();
  const row = card.locator('li[data-key="CI"][data-state="active"]');
  await row.getByText('Rotate…').click();
  await row.getByLabel('Keep the old key working for').selectOption({ label: '1 day' });
  await row.getByRole('button', { name: 'Rotate key' }).click();
  const rotated = page.getByRole('status').filter({ hasText: 'copy it now' });
  await stepUpIfAsked(page, secret, last, rotated);
  const next = await rotated.getByLabel('API key').inputValue();
  expect(next).not.toBe(key);
  expect(await verify(request, token, next)).toBe('VALID');
  expect(await verify(request, token, key)).toBe('VALID');
  const old = card.locator('li[data-key="CI"][data-state="grace"]');
  // Uses are counted in batches (within ten seconds): the list is read again until it has them.
  await expect(async () => {
    await page.reload();
    await expect(old.getByText('old key, in grace period')).toBeVisible({ timeout: 1_000 });
    await expect(old.getByText(/Rotated .* to kp_live_\w{4}…\w{4} · works until .* · 1 request\(s\) since rotation/)).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  await expect(card.locator('li[data-key="CI"][data-state="active"]').getByText(`replaces ${key.slice(0, 12)}…${key.slice(-4)}`)).toBeVisible();
  await shot(page, 'key-rotated');

  // A temporary key that expires at a chosen time (UTC) is refused afterwards.
  // 40 s ahead: enough for a step-up that may wait for the next TOTP step.
  const at = new Date(Date.now() + 40_000);
  const local = at.toISOString().slice(0, 19); // YYYY-MM-DDTHH:MM:SS, UTC
  await issueKey(page, 'Temp', async (form) => {
    await form.getByLabel('Environment').selectOption('live');
    await form.getByLabel('Expires after').selectOption({ label: 'At a date and time…' });
    await form.getByLabel('Expiry date and time (UTC)').fill(local);
    await form.getByLabel('Scopes').fill('pets:read');
    await shot(page, 'key-issue-form');
  });
  const tempShown = page.getByRole('status').filter({ hasText: 'copy it now' });
  await stepUpIfAsked(page, secret, last, tempShown);
  const temp = await tempShown.getByLabel('API key').inputValue();
  expect(await verify(request, token, temp)).toBe('VALID');
  await page.waitForTimeout(Math.max(0, at.getTime() - Date.now()) + 1_500);
  expect(await verify(request, token, temp)).toBe('EXPIRED');
  await page.reload();
  await expect(card.locator('li[data-key="Temp"]').getByText('expired', { exact: true })).toBeVisible();

  // Revoking refuses the old key at once; its successor keeps working.
  await old.getByText('Revoke…').click();
  await old.getByLabel('Reason').fill('Clients moved');
  await old.getByRole('button', { name: 'Revoke key' }).click();
  const revoked = card.locator('li[data-key="CI"][data-state="revoked"]');
  await stepUpIfAsked(page, secret, last, revoked.getByText('revoked', { exact: true }));
  await expect(revoked.getByText('Reason: Clients moved')).toBeVisible();
  // The key says where the revocation is in effect: on every running gateway instance.
  await expect(revoked.locator('[data-propagation]')).toHaveText(/In effect on (\d+) of \1 gateway instances? after \d+ ms/);
  expect(await verify(request, token, key)).toBe('REVOKED');
  expect(await verify(request, token, next)).toBe('VALID');
  await shot(page, 'keys');
});

test('an admin finds keys across the portal and sets the key policy', async ({ page }) => {
  const email = `keys-admin-${Date.now()}@example.com`;
  const res = spawnSync(keyportBin(), ['user', 'create', '--email', email, '--role', 'admin', '--password-stdin'], {
    cwd: REPO_ROOT,
    env: serverEnv(),
    input: `${PASSWORD}\n`,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (res.status !== 0) throw new Error(`user create failed: ${res.stderr}`);
  await signIn(page, email, PASSWORD);
  // Changing the key policy is a step-up action: it needs a second factor.
  const { secret } = await enrolMfa(page);
  const last = { step: currentStep() };
  await openAdminMenu(page);
  await page.getByRole('link', { name: 'Keys', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'All API keys' })).toBeVisible();
  await page.getByLabel('Search').fill('keys-');
  await page.getByLabel('State').selectOption({ label: 'Revoked' });
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/state=revoked/);
  const revoked = page.locator('li[data-state="revoked"]').first();
  await expect(revoked.getByText(/Key demo · keys-\d+@example\.com/)).toBeVisible();
  await expect(revoked.getByText(/Rotated .* to kp_live_\w{4}…\w{4} · 1 request\(s\) since rotation/)).toBeVisible();
  await expect(page.locator('li[data-state="active"]')).toHaveCount(0);
  await shot(page, 'admin-keys');

  await open(page, '/admin/settings');
  const policy = page.locator('section[aria-labelledby="key-policy-heading"]');
  await policy.getByLabel('Maximum key lifetime (days)').fill('365');
  await policy.getByLabel('Remind owners (days ahead)').fill('10');
  await policy.getByLabel('Only flag it and tell the owner').check();
  await policy.getByRole('button', { name: 'Save' }).click();
  await stepUpIfAsked(page, secret, last, policy.getByText('Key policy saved.'));
  await page.reload();
  await expect(policy.getByLabel('Maximum key lifetime (days)')).toHaveValue('365');
  await expect(policy.getByLabel('Only flag it and tell the owner')).toBeChecked();
  await shot(page, 'settings-key-policy');
});
