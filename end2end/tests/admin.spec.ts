// An admin changes a user's role and disables them (which signs them out);
// a developer is refused the admin pages.
import { expect, test } from '@playwright/test';
import { enrolMfa, PASSWORD, shot, signIn, signUp, totpCode, USERS } from './fixtures';

test('admin changes a role and disables a user, who is signed out at once', async ({ page, browser }) => {
  // The victim signs up in their own browser.
  const email = `target-${Date.now()}@example.com`;
  const theirs = await browser.newContext();
  const them = await theirs.newPage();
  await signUp(them, 'Tom Target', email);

  await signIn(page, USERS.admin.email, USERS.admin.password);
  // Role changes and disabling are sensitive: admins need MFA, and a fresh code for each.
  const { secret } = await enrolMfa(page);
  await page.goto('/dashboard');
  await expect(page.getByRole('heading', { name: 'Portal overview' })).toBeVisible();
  await shot(page, 'dashboard-admin');
  await page.waitForTimeout(6_000); // let the (5 s, for tests) step-up window pass
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
  await dialog.getByLabel('Authentication code').fill(totpCode(secret, 30));
  await dialog.getByRole('button', { name: 'Confirm and continue' }).click();
  await expect(dialog).toBeHidden();
  await expect(row.getByLabel(`Role of ${email}`)).toHaveValue('publisher');
  await them.reload();
  await expect(them.getByText('Publisher', { exact: false }).first()).toBeVisible();

  await row.getByText('Disable…').click();
  await row.getByRole('button', { name: 'Yes, disable' }).click();
  await expect(row.getByText('Disabled', { exact: true })).toBeVisible();
  await shot(page, 'admin-users');

  await them.goto('/dashboard');
  await expect(them).toHaveURL(/\/sign-in/);
  await theirs.close();

  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.getByLabel('Action').selectOption('user.disable');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page.getByRole('cell', { name: 'user.disable' }).first()).toBeVisible();
  await shot(page, 'admin-audit');

  await page.getByRole('link', { name: 'Settings' }).click();
  await expect(page.getByRole('heading', { name: 'Portal settings' })).toBeVisible();
  await shot(page, 'admin-settings');
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
