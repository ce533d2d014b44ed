// The WASM bundle loads and hydrates the server-rendered page: the password
// "Show" toggle only works once Leptos has taken over the DOM.
import { expect, test } from '@playwright/test';
import { shot } from './fixtures';

test('the sign-in page hydrates and its password toggle works', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto('/sign-in');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const password = page.getByLabel('Password', { exact: true });
  await expect(password).toHaveAttribute('type', 'password');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(password).toHaveAttribute('type', 'text');
  await expect(page.getByRole('button', { name: 'Hide' })).toHaveAttribute('aria-pressed', 'true');
  await shot(page, 'sign-in');
  expect(errors, 'no hydration or CSP errors in the console').toEqual([]);
});

test('the landing page says what Keyport is', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toContainText('one portal');
  await expect(page.getByRole('link', { name: 'Create an account' })).toBeVisible();
  await shot(page, 'landing');
});

test('unknown pages answer 404 with a way back', async ({ page }) => {
  const res = await page.goto('/nowhere');
  expect(res?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
});
