// The gateway, end to end: a developer finds the gateway address on the API's page, calls
// the API through Keyport's gateway with their key (a real upstream, a small HTTP server
// started here), sees the call in their usage chart, revokes the key, and the next call is
// refused with a problem document.
import { expect, test } from '@playwright/test';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  call, GATEWAY_URL, currentStep, enrolMfa, nextCode, open, publishedApi, shot, signUp,
} from './fixtures';

const API = `gateway-store-${Date.now()}`;

/** An upstream that answers with what it received. */
async function upstream(): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({
      path: req.url,
      key: req.headers['x-api-key'] ?? null,
      application: req.headers['x-keyport-application'] ?? null,
    }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/v1` };
}

test('a developer calls an API through the gateway, sees it in the chart, revokes the key and is refused', async ({ page }) => {
  test.setTimeout(180_000);
  const up = await upstream();
  try {
    await publishedApi(API, 'Gateway Store', { upstream: up.url });
    await signUp(page, 'Gina Gateway', `gateway-${Date.now()}@example.com`);
    const { secret } = await enrolMfa(page);
    await open(page, '/applications');
    await page.getByLabel('Name').first().fill('Proxied app');
    await page.getByRole('button', { name: 'Create application' }).click();
    await expect(page.locator('section[data-application="Proxied app"]')).toBeVisible();

    // The API's page says where to call it, with a curl example to copy.
    await open(page, `/catalog/${API}`);
    const card = page.getByRole('region', { name: 'Call it through the gateway' });
    await expect(card.getByLabel('Gateway address')).toHaveValue(`${GATEWAY_URL}/${API}`);
    await expect(card.getByLabel('Example with curl')).toHaveValue(
      `curl -H "X-Api-Key: $KEYPORT_KEY" ${GATEWAY_URL}/${API}/`,
    );
    const free = page.locator('div[data-plan="Free"]');
    await free.getByLabel('Application').selectOption({ label: 'Proxied app' });
    await free.getByRole('button', { name: 'Subscribe to Free' }).click();
    await expect(page.getByText('Subscribed. Your application can use this API now.')).toBeVisible();
    await card.scrollIntoViewIfNeeded();
    await shot(page, 'gateway-api-page');

    const apps = await call(page, 'my_applications', {});
    const appId: string = apps.find((a: { name: string }) => a.name === 'Proxied app').id;
    let step = currentStep();
    const first = await nextCode(secret, step);
    step = first.step;
    const issued = await call(page, 'issue_key', {
      application_id: appId, name: 'Edge', environment: 'live', expires_in: '1d', scopes: 'pets:read',
      step_up_code: first.code,
    });

    // Through the gateway: the upstream gets the call without the key, with the application.
    const res = await page.request.get(`${GATEWAY_URL}/${API}/pets?limit=2`, {
      headers: { 'X-Api-Key': issued.key },
    });
    expect(res.status()).toBe(200);
    expect(res.headers()['via']).toBe('1.1 keyport');
    const echo = await res.json();
    expect(echo).toEqual({ path: '/v1/pets?limit=2', key: null, application: appId });

    // The call shows in the developer's chart (counts are written every 10 s).
    await expect(async () => {
      await page.goto(`/usage?app=${appId}&range=24h`);
      await expect(page.locator('figcaption').first()).toContainText('1 allowed', { timeout: 1_000 });
    }).toPass({ timeout: 30_000 });
    // One by one, with the upstream's status, the latency and the size.
    const latest = page.getByRole('region', { name: 'Latest calls', exact: true });
    await expect(latest.getByRole('row', { name: /Edge Gateway Store Allowed 200 \d[\d,]* ms \d+ B 127\.0\.0\.1/ })).toBeVisible();
    await latest.scrollIntoViewIfNeeded();
    await shot(page, 'gateway-latest-calls');

    // Revoked, the key is refused at once, as a problem document with its code.
    const second = await nextCode(secret, step);
    await call(page, 'revoke_key', { id: issued.view.id, reason: 'Done', step_up_code: second.code });
    const refused = await page.request.get(`${GATEWAY_URL}/${API}/pets`, {
      headers: { 'X-Api-Key': issued.key },
    });
    expect(refused.status()).toBe(401);
    expect(refused.headers()['content-type']).toBe('application/problem+json');
    const problem = await refused.json();
    expect(problem.code).toBe('REVOKED');
    expect(problem.status).toBe(401);
  } finally {
    up.server.close();
  }
});
