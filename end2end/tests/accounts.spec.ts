// A developer signs up, signs out (the old session cookie is dead afterwards)
// and signs back in.
import { expect, test } from '@playwright/test';
import {
  BASE_URL, PASSWORD, confirmSignUp, open, openAccountMenu, shot, signIn,
} from './fixtures';

test('sign up, sign out, sign in; the old cookie is refused after sign-out', async ({ page, browser }) => {
  const email = `new-${Date.now()}@example.com`;
  await open(page, '/sign-up');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await shot(page, 'sign-up');

  // Field-level errors first.
  await page.getByLabel('Name').fill('Grace Hopper');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.locator('#field-password-error')).toContainText('at least 12 characters');
  await expect(page.getByLabel('Password', { exact: true })).toHaveAttribute('aria-invalid', 'true');

  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  // The address is confirmed first: the same answer whether or not it has an account.
  await shot(page, 'sign-up-check-inbox');
  await confirmSignUp(page, email);
  await expect(page.getByRole('heading', { name: 'Welcome, Grace Hopper' })).toBeVisible();
  await expect(page.getByText('This session')).toBeVisible();
  // The activity reads in words, not audit codes.
  await expect(page.getByRole('cell', { name: 'Created an account' })).toBeVisible();
  await shot(page, 'dashboard-developer');

  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'keyport_session');
  expect(session, 'a session cookie').toBeTruthy();
  expect(session!.httpOnly).toBe(true);
  expect(session!.sameSite).toBe('Lax');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(BASE_URL + '/');
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sign in' })).toBeVisible();

  // Replaying the old cookie in a fresh browser gets the sign-in page, not the dashboard.
  const replay = await browser.newContext();
  await replay.addCookies([session!]);
  const replayPage = await replay.newPage();
  await open(replayPage, '/dashboard');
  await expect(replayPage).toHaveURL(/\/sign-in\?next=(%2F|\/)dashboard/);
  await replay.close();

  await signIn(page, email, PASSWORD);
  await expect(page.getByRole('heading', { name: 'Welcome, Grace Hopper' })).toBeVisible();
});

test('a wrong password gets one clear answer', async ({ page }) => {
  await open(page, '/sign-in');
  await page.getByLabel('Email').fill('dev@example.com');
  await page.getByLabel('Password', { exact: true }).fill('not my password at all');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByRole('alert')).toContainText('Invalid email or password.');
  await expect(page).toHaveURL(/\/sign-in/);
});

test('the account page changes the display name', async ({ page }) => {
  await signIn(page, 'publisher@example.com', PASSWORD);
  await openAccountMenu(page);
  await page.getByRole('link', { name: 'Account', exact: true }).click();
  await page.getByLabel('Name').fill('Pat Publisher');
  await page.getByRole('button', { name: 'Save profile' }).click();
  await expect(page.getByText('Profile saved.')).toBeVisible();
  await shot(page, 'account');
  await page.reload();
  await expect(page.getByLabel('Name')).toHaveValue('Pat Publisher');
});
