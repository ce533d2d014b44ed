// An admin changes a user's role and disables them (which signs them out);
// a developer is refused the admin pages.
import { spawnSync } from 'node:child_process';
import { expect, test } from '@playwright/test';
import {
  PASSWORD, REPO_ROOT, USERS, currentStep, enrolMfa, keyportBin, open, openAdminMenu, serverEnv, shot, signIn, signUp, stepUp, stepUpIfAsked,
} from './fixtures';

test('admin changes a role and disables a user, who is signed out at once', async ({ page, browser }) => {
  // Two browsers, a lapsed step-up window and maybe a wait for the next TOTP step.
  test.setTimeout(90_000);
  // The victim signs up in their own browser.
  const email = `target-${Date.now()}@example.com`;
  const theirs = await browser.newContext();
  const them = await theirs.newPage();
  await signUp(them, 'Tom Target', email);

  await signIn(page, USERS.admin.email, USERS.admin.password);
  // Role changes and disabling are sensitive: admins need MFA, and a fresh code for each.
  const { secret } = await enrolMfa(page);
  const last = { step: currentStep() };
  await open(page, '/dashboard');
  await expect(page.getByRole('heading', { name: 'Portal overview' })).toBeVisible();
  await shot(page, 'dashboard-admin');
  await page.waitForTimeout(6_000); // let the (5 s, for tests) step-up window pass
  await openAdminMenu(page);
  await page.getByRole('link', { name: 'Users' }).click();
  await page.getByLabel('Search by email or name').fill(email);
  await page.getByRole('button', { name: 'Search' }).click();
  const row = page.locator(`tr[data-user="${email}"]`);
  await expect(row).toBeVisible();

  await row.getByLabel(`Role of ${email}`).selectOption('publisher');
  await row.getByRole('button', { name: 'Save' }).click();
  const dialog = page.getByRole('dialog', { name: "Confirm it's you" });
  await expect(dialog).toBeVisible();
  await shot(page, 'step-up-dialog');
  await stepUp(page, secret, last);
  await expect(row.getByLabel(`Role of ${email}`)).toHaveValue('publisher');
  await them.reload();
  await expect(them.getByText('Publisher', { exact: false }).first()).toBeVisible();

  await row.getByText('Disable…').click();
  await row.getByRole('button', { name: 'Yes, disable' }).click();
  // Still inside the role change's step-up window, unless the machine was slow.
  await stepUpIfAsked(page, secret, last, row.getByText('Disabled', { exact: true }));
  await shot(page, 'admin-users');

  await open(them, '/dashboard');
  await expect(them).toHaveURL(/\/sign-in/);
  await theirs.close();

  await openAdminMenu(page);
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.getByLabel('Action').selectOption('user.disable');
  await page.getByRole('button', { name: 'Filter' }).click();
  // The log leads with words; the code stays beside them.
  const disabled = page.getByRole('cell', { name: 'Disabled a user' }).first();
  await expect(disabled).toBeVisible();
  await expect(disabled).toContainText('user.disable');
  await shot(page, 'admin-audit');

  await openAdminMenu(page);
  await page.getByRole('link', { name: 'Settings' }).click();
  await expect(page.getByRole('heading', { name: 'Portal settings' })).toBeVisible();
  // This Keyport reports itself as a running gateway instance, with its lag on the feed.
  const instances = page.getByRole('table', { name: 'Gateway instances' });
  await expect(instances.getByRole('row').filter({ hasText: 'Running' }).first()).toContainText(/up to date|\d+ changes?/);
  await shot(page, 'admin-settings');
});

test('the admin header fits on one line on a desktop and its menu works from the keyboard', async ({ page }) => {
  // A new admin with a long name (the seeded one has MFA on by now).
  const email = `header-admin-${Date.now()}@example.com`;
  const res = spawnSync(keyportBin(), ['user', 'create', '--email', email, '--role', 'admin', '--name', 'Alexandra Montgomery-Fitzwilliam', '--password-stdin'], {
    cwd: REPO_ROOT,
    env: serverEnv(),
    input: `${PASSWORD}\n`,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (res.status !== 0) throw new Error(`user create failed: ${res.stderr}`);
  await page.setViewportSize({ width: 1280, height: 800 });
  await signIn(page, email, PASSWORD);
  const header = page.getByRole('banner');
  const nav = page.getByRole('navigation', { name: 'Main' });
  const signOut = header.getByRole('button', { name: 'Sign out' });
  const tops = [
    await header.getByRole('link', { name: 'Keyport' }).boundingBox(),
    await nav.getByRole('link', { name: 'Dashboard' }).boundingBox(),
    await nav.locator('summary', { hasText: 'Admin' }).boundingBox(),
    await signOut.boundingBox(),
  ].map((b) => (b ? b.y + b.height / 2 : NaN));
  for (const top of tops) expect(Math.abs(top - tops[0])).toBeLessThan(8);
  await shot(page, 'header-admin');

  // Keyboard: focus the menu's button, open it with Enter, follow a link; Escape closes it
  // (once the page is interactive).
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const summary = nav.locator('summary', { hasText: 'Admin' });
  await summary.focus();
  await page.keyboard.press('Enter');
  const users = nav.getByRole('link', { name: 'Users', exact: true });
  await expect(users).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(users).toBeHidden();
  await expect(summary).toBeFocused();
  await page.keyboard.press('Enter');
  await users.focus();
  await page.keyboard.press('Enter');
  await page.waitForURL('**/admin/users');
  await expect(page.getByRole('heading', { name: 'Users' })).toBeVisible();

  // On a phone the header wraps, and the menu opens in place.
  await page.setViewportSize({ width: 375, height: 800 });
  await openAdminMenu(page);
  const settings = nav.getByRole('link', { name: 'Settings', exact: true });
  const box = await settings.boundingBox();
  expect(box && box.x >= 0 && box.x + box.width <= 375).toBeTruthy();
  await settings.click();
  await expect(page.getByRole('heading', { name: 'Portal settings' })).toBeVisible();
  await shot(page, 'header-admin-phone');
});

test('a developer is refused the admin pages', async ({ page }) => {
  await signIn(page, USERS.developer.email, USERS.developer.password);
  await expect(page.getByRole('link', { name: 'Users' })).toHaveCount(0);
  for (const path of ['/admin/users', '/admin/audit', '/admin/settings']) {
    const res = await page.goto(path);
    expect(res?.status(), path).toBe(403);
    await expect(page.getByRole('heading', { name: 'Access denied' })).toBeVisible();
  }
  await shot(page, 'developer-refused');
});
