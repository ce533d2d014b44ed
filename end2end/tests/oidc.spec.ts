// Sign-in through a real OpenID provider (oidc/provider.mjs: panva's oidc-provider, its
// development login and consent pages). New users are provisioned with the role their
// `groups` claim maps to. The round-trip time is printed for the issue's closing note.
import { expect, test } from '@playwright/test';
import {
  OIDC_ISSUER, open, openAdminMenu,
} from './fixtures';

async function signInAtProvider(page: import('@playwright/test').Page, login: string) {
  await open(page, '/sign-in');
  const started = Date.now();
  await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
  await page.waitForURL((url) => url.href.startsWith(`${OIDC_ISSUER}/interaction/`));
  // The provider's real login page, then its consent page.
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password works here');
  await page.getByRole('button', { name: /sign-in/i }).click();
  const consented = Date.now();
  await page.getByRole('button', { name: /continue/i }).click();
  await page.waitForURL(/127\.0\.0\.1:3100\/dashboard(?:[?#]|$)/);
  const done = Date.now();
  return { total: done - started, fromConsent: done - consented };
}

test('alice signs in through the provider and lands on the dashboard as an admin', async ({ page }) => {
  const times = await signInAtProvider(page, 'alice');
  console.log(
    `OIDC sign-in round trip: ${times.total} ms (button → dashboard, incl. provider pages); ` +
      `${times.fromConsent} ms from consent to dashboard`,
  );
  await expect(page.getByText('Alice · Admin')).toBeVisible();
  await openAdminMenu(page);
  await expect(page.getByRole('link', { name: 'Users', exact: true })).toBeVisible();
  await open(page, '/account');
  await expect(page.getByText('Test IdP (alice@idp.example.org)', { exact: false })).toBeVisible();
});

test('someone outside the admin group becomes a developer', async ({ page }) => {
  await signInAtProvider(page, 'bob');
  await expect(page.getByText('Bob · Developer')).toBeVisible();
  await expect(page.getByRole('link', { name: 'Users', exact: true })).toHaveCount(0);
});

test('cancelling at the provider shows a message, not an error page', async ({ page }) => {
  await open(page, '/sign-in');
  await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
  await page.waitForURL((url) => url.href.startsWith(`${OIDC_ISSUER}/interaction/`));
  await page.locator('input[name="login"]').fill('carol');
  await page.locator('input[name="password"]').fill('any');
  await page.getByRole('button', { name: /sign-in/i }).click();
  await page.getByRole('link', { name: /cancel/i }).click();
  await page.waitForURL(/\/sign-in\?error=oidc_denied/);
  await expect(page.getByRole('alert')).toContainText('Sign-in was cancelled');
});
