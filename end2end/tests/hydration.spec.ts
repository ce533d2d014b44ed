// The WASM bundle loads and hydrates the server-rendered page: the password
// "Show" toggle only works once Leptos has taken over the DOM.
import { expect, test } from '@playwright/test';
import {
  PASSWORD, USERS, open, publishedApi, shot, signIn,
} from './fixtures';

test('the sign-in page hydrates and its password toggle works', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await open(page, '/sign-in');
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
  await open(page, '/');
  await expect(page.getByRole('heading', { level: 1 })).toContainText('one portal');
  await expect(page.getByRole('link', { name: 'Create an account' })).toBeVisible();
  await shot(page, 'landing');
});

test('unknown pages answer 404 with a way back', async ({ page }) => {
  const res = await page.goto('/nowhere');
  expect(res?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
});

// Pages are split into WASM chunks (`cargo leptos build --split`): the sign-in page needs
// only the main bundle; a page behind it fetches its own chunks, on a client-side
// navigation as well as when loaded from its address (it hydrates once they are in).
test('pages fetch their code the first time they are shown', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const chunks: string[] = [];
  page.on('request', (r) => { if (/\/chunk_\d+\.wasm$/.test(r.url())) chunks.push(r.url()); });
  await open(page, '/sign-in');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  expect(chunks, 'the sign-in page is in the main bundle').toEqual([]);
  await signIn(page, USERS.plainDeveloper.email, PASSWORD);
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  expect(chunks.length, 'the dashboard came in chunks').toBeGreaterThan(0);
  expect(chunks.every((u) => /\/v\/[0-9a-f]{16}\/pkg\//.test(u)), 'under the build version').toBe(true);
  const before = chunks.length;
  await page.getByRole('link', { name: 'Catalog', exact: true }).first().click();
  await page.waitForURL('**/catalog');
  await expect(page.getByLabel('Search by name, summary or tag')).toBeVisible();
  expect(chunks.length, 'the catalog fetched what the dashboard lacked').toBeGreaterThan(before);
  // Loaded from its address, a lazy page hydrates: an API's page fetches an operation's
  // details in place when it is opened (without JavaScript, a link reloads the page).
  const slug = `lazy-${Date.now()}`;
  await publishedApi(slug, 'Lazy Pets', {
    openapi: "openapi: 3.0.3\ninfo: {title: Lazy, version: '1'}\npaths:\n  /pets:\n    get:\n      summary: List the pets\n      parameters:\n        - {name: limit, in: query, schema: {type: integer}}\n      responses:\n        '200': {description: ok}\n",
  });
  await open(page, `/catalog/${slug}`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByText('List the pets').click();
  await expect(page.getByRole('cell', { name: 'limit' })).toBeVisible();
  expect(page.url(), 'no page load').not.toContain('?op=');
  expect(errors).toEqual([]);
});
