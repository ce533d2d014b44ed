// Keys without JavaScript: the issue form answers with the page that shows the key (a
// secret created but never shown would be lost), and a step-up that is due takes the code
// from the form itself (no dialog without JavaScript). Set-up that needs JavaScript (the
// QR-code enrolment) runs in a hydrated context first. Publishes its own API (automatic
// "Free" plan) first.
import { expect, test } from '@playwright/test';
import {
  currentStep, enrolMfa, nextCode, open, publishedApi, shot, signUp,
} from './fixtures';

test('issue a key and step up without JavaScript', async ({ browser }) => {
  test.setTimeout(120_000);
  const email = `nojs-${Date.now()}@example.com`;
  const api = `plain-store-${Date.now()}`;
  await publishedApi(api, 'Plain Store');
  const hydrated = await browser.newContext({ javaScriptEnabled: true });
  const setup = await hydrated.newPage();
  await signUp(setup, 'Nora NoJS', email);
  const { secret } = await enrolMfa(setup);
  const last = { step: currentStep() };
  await open(setup, '/applications');
  await setup.getByLabel('Name').first().fill('Plain shop');
  await setup.getByRole('button', { name: 'Create application' }).click();
  await expect(setup.locator('section[data-application="Plain shop"]')).toBeVisible();
  await open(setup, `/catalog/${api}`);
  const free = setup.locator('div[data-plan="Free"]');
  await free.getByLabel('Application').selectOption({ label: 'Plain shop' });
  await free.getByRole('button', { name: 'Subscribe to Free' }).click();
  await expect(setup.getByText('Subscribed. Your application can use this API now.')).toBeVisible();

  const plain = await browser.newContext({
    javaScriptEnabled: false,
    storageState: await hydrated.storageState(),
  });
  await hydrated.close();
  const page = await plain.newPage();
  await page.waitForTimeout(6_000); // past the (5 s, for tests) step-up window
  await page.goto('/applications');
  await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
  const card = page.locator('section[data-application="Plain shop"]');

  // Without a code the form is refused before anything is made, and says why.
  await card.getByText('Issue a key…').click();
  await card.getByLabel('Key name').fill('No code');
  await card.getByRole('button', { name: 'Issue key' }).click();
  await expect(page.getByRole('alert').filter({ hasText: "Confirm it's you" })).toBeVisible();
  await expect(card.locator('li[data-key="No code"]')).toHaveCount(0);

  // The refused form stays open. With the code from the authenticator in it: the answer
  // shows the key, once.
  await expect(card.getByLabel('Key name')).toBeVisible();
  await card.getByLabel('Key name').fill('Cron job');
  const { code, step } = await nextCode(secret, last.step);
  last.step = step;
  await card.getByLabel('Code from your authenticator app').fill(code);
  await card.getByRole('button', { name: 'Issue key' }).click();
  const reveal = page.getByRole('status').filter({ hasText: 'copy it now' });
  await expect(reveal).toBeVisible();
  const key = await reveal.getByLabel('API key').inputValue();
  expect(key).toMatch(/^kp_test_[0-9A-Za-z]{49}$/);
  await shot(page, 'key-issued-nojs');
  await reveal.getByRole('link', { name: 'I have stored it' }).click();
  await expect(page).toHaveURL(/\/applications$/);
  await expect(page.locator('section[data-application="Plain shop"] li[data-key="Cron job"]')).toBeVisible();
  expect(await page.content()).not.toContain(key);
  await plain.close();
});
