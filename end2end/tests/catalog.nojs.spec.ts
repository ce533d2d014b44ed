// The developer's side of the catalog without JavaScript: search, read an API's page and its
// reference (native <details>), subscribe and cancel with plain form posts. Runs after the
// hydrated catalog journey (project dependency), which published "Pet Store".
import { expect, test } from '@playwright/test';
import { USERS } from './fixtures';

test('browse, subscribe and cancel without JavaScript', async ({ page }) => {
  await page.goto('/sign-in');
  await page.getByLabel('Email').fill(USERS.apiDeveloper.email);
  await page.getByLabel('Password', { exact: true }).fill(USERS.apiDeveloper.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL('**/dashboard');
  await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');

  await page.goto('/catalog');
  await page.getByLabel('Search by name, summary or tag').fill('adoptions');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/q=adoptions/);
  await page.locator('li[data-api="pet-store"]').getByRole('link', { name: 'Pet Store' }).click();
  await expect(page.getByRole('heading', { name: 'Pets for everyone' })).toBeVisible();
  await page.getByText('Add a pet').click();
  await expect(page.getByText('Request body (required)')).toBeVisible();

  // "Batch job" was rejected on Gold, so it may subscribe again: here to the automatic plan.
  const free = page.locator('div[data-plan="Free"]');
  await free.getByLabel('Application').selectOption({ label: 'Batch job' });
  await free.getByRole('button', { name: 'Subscribe to Free' }).click();
  const mine = page.getByLabel('Your subscriptions');
  await expect(mine.locator('li', { hasText: 'Batch job' }).getByText('Active')).toBeVisible();

  await page.goto('/applications');
  const batch = page.locator('section[data-application="Batch job"]');
  const live = batch.locator('li', { hasText: 'Free plan' });
  await live.getByText('Cancel…').click();
  await live.getByRole('button', { name: 'Yes, cancel it' }).click();
  await expect(page.locator('section[data-application="Batch job"]').locator('li', { hasText: 'Free plan' }).getByText('Cancelled')).toBeVisible();

  await page.goto('/notifications');
  await expect(page.getByText('Subscription rejected: Pet Store')).toBeVisible();
});
