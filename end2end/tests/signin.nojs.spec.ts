// Sign-in works with JavaScript disabled: plain HTML forms, server redirects.
import { expect, test } from '@playwright/test';
import { USERS } from './fixtures';

test('sign in and out without JavaScript', async ({ page }) => {
  await page.goto('/sign-in');
  await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
  await page.getByLabel('Email').fill(USERS.developer.email);
  await page.getByLabel('Password', { exact: true }).fill('wrong password, surely');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByRole('alert')).toContainText('Invalid email or password.');

  await page.getByLabel('Email').fill(USERS.developer.email);
  await page.getByLabel('Password', { exact: true }).fill(USERS.developer.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL('**/dashboard');
  await expect(page.getByRole('heading', { name: /^Welcome/ })).toBeVisible();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sign in' })).toBeVisible();
  const res = await page.goto('/dashboard');
  expect(page.url()).toContain('/sign-in');
  expect(res?.status()).toBe(200);
});
