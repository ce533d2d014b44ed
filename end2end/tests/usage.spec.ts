// Usage charts: requests made through the verify API show in the developer's chart, once
// hydrated (exact values on hover, series toggled from the legend, the range switched
// without a full reload) and without JavaScript (the caption and the table). Screenshots
// of the page in light and dark. Publishes its own API (automatic "Free" plan) first.
import { expect, test, type Page } from '@playwright/test';
import {
  call, currentStep, enrolMfa, nextCode, open, publishedApi, serviceToken, shot, signUp,
} from './fixtures';

const API = `usage-store-${Date.now()}`;


/** Reloads `path` until the chart's caption says `text` (counts are written every 10 s). */
async function waitForCaption(page: Page, path: string, text: string) {
  await expect(async () => {
    await page.goto(path);
    await expect(page.locator('figcaption').first()).toContainText(text, { timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
}

test('traffic through the verify API shows in the usage charts, with and without JavaScript', async ({ page, browser }) => {
  test.setTimeout(180_000);
  const token = serviceToken('e2e usage');
  await publishedApi(API, 'Usage Store');
  await signUp(page, 'Una Usage', `usage-${Date.now()}@example.com`);
  const { secret } = await enrolMfa(page);
  await open(page, '/applications');
  await page.getByLabel('Name').first().fill('Metered app');
  await page.getByRole('button', { name: 'Create application' }).click();
  await expect(page.locator('section[data-application="Metered app"]')).toBeVisible();
  await open(page, `/catalog/${API}`);
  const free = page.locator('div[data-plan="Free"]');
  await free.getByLabel('Application').selectOption({ label: 'Metered app' });
  await free.getByRole('button', { name: 'Subscribe to Free' }).click();
  await expect(page.getByText('Subscribed. Your application can use this API now.')).toBeVisible();
  const apps = await call(page, 'my_applications', {});
  const appId: string = apps.find((a: { name: string }) => a.name === 'Metered app').id;
  const { code } = await nextCode(secret, currentStep());
  const issued = await call(page, 'issue_key', {
    application_id: appId, name: 'Meter', environment: 'live', expires_in: '1d', scopes: 'pets:read',
    step_up_code: code,
  });

  // Four allowed requests and one refused, through the verify API as a gateway makes them.
  for (const scope of ['pets:read', 'pets:read', 'pets:read', 'pets:read', 'pets:write']) {
    const res = await page.request.post('/v1/keys/verify', {
      headers: { Authorization: `Bearer ${token}` },
      data: { key: issued.key, api: API, scope },
    });
    expect(res.status()).toBe(200);
  }

  const appUsage = `/usage?app=${appId}&range=24h`;
  await waitForCaption(page, appUsage, '5 requests: 4 allowed, 1 scope denied.');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const chart = page.getByRole('group', { name: /Requests of application, last 24 hours/ });
  await expect(chart).toBeVisible();
  // The by-key table links to the key's own chart.
  await expect(page.getByRole('link', { name: 'Meter' })).toHaveAttribute('href', /\/usage\?key=/);

  // Hover the current hour: a tooltip with the exact values; the arrow keys move it.
  const box = (await chart.boundingBox())!;
  await page.mouse.move(box.x + box.width - 3, box.y + box.height - 3);
  const tooltip = chart.locator('div.pointer-events-none.absolute.top-1');
  await expect(tooltip).toContainText('Allowed');
  await expect(tooltip).toContainText('4');
  await chart.focus();
  await page.keyboard.press('Home');
  await expect(tooltip).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(tooltip).toHaveCount(0);
  await shot(page, 'usage-application');
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.mouse.move(box.x + box.width - 3, box.y + box.height - 3);
  await shot(page, 'usage-application-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'usage-application-phone');
  await page.setViewportSize({ width: 1280, height: 720 });

  // The legend hides a series.
  const allowed = page.getByRole('button', { name: /^Allowed/ }).first();
  await expect(allowed).toHaveAttribute('aria-pressed', 'true');
  await allowed.click();
  await expect(allowed).toHaveAttribute('aria-pressed', 'false');

  // Another range without a full reload: the page keeps its JavaScript state.
  await page.evaluate(() => { (window as unknown as { marker: number }).marker = 42; });
  await page.getByRole('link', { name: 'Last hour' }).click();
  await expect(page).toHaveURL(/range=1h/);
  await expect(page.locator('figcaption').first()).toContainText('5 requests');
  expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);

  // Without JavaScript: the same numbers in the caption and in the table.
  const plain = await browser.newContext({
    javaScriptEnabled: false,
    storageState: await page.context().storageState(),
  });
  const noJs = await plain.newPage();
  await noJs.goto(appUsage);
  await expect(noJs.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
  await expect(noJs.locator('figcaption').first()).toContainText('5 requests: 4 allowed, 1 scope denied.');
  await noJs.getByText('Show the numbers as a table').first().click();
  const table = noJs.getByRole('region', { name: /as a table/ }).first();
  await expect(table.locator('tbody tr').last()).toContainText('5');
  // Another range is a plain link.
  await noJs.getByRole('link', { name: 'Last 7 days' }).click();
  await expect(noJs).toHaveURL(/range=7d/);
  await expect(noJs.locator('figcaption').first()).toContainText('5 requests');
  await shot(noJs, 'usage-application-nojs');
  await plain.close();
});
