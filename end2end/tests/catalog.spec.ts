// The catalog journey: a publisher publishes an API with an OpenAPI file and a manual-approval
// plan; a developer finds it, creates applications and subscribes; an admin approves one request
// and rejects another (with MFA step-up); the developer sees the states and the notifications.
// An automatic plan starts at once.
import { expect, test, type Page } from '@playwright/test';
import {
  BASE_URL, USERS, currentStep, enrolMfa, open, shot, signIn, stepUp, stepUpIfAsked,
} from './fixtures';

const PETSTORE = `openapi: 3.0.3
info: {title: Pet Store, version: '1.0'}
servers: [{url: 'https://pets.example.com/v1'}]
tags: [{name: pets, description: Everything about pets}]
paths:
  /pets:
    get:
      tags: [pets]
      summary: List pets
      parameters:
        - {name: limit, in: query, schema: {type: integer, format: int32}}
      responses:
        '200':
          description: A page of pets
          content:
            application/json:
              schema: {type: array, items: {$ref: '#/components/schemas/Pet'}}
    post:
      tags: [pets]
      summary: Add a pet
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Pet'}
      responses:
        '201': {description: Created}
components:
  schemas:
    Pet:
      type: object
      required: [name]
      properties:
        id: {type: integer, format: int64}
        name: {type: string, description: What the pet answers to}
`;

const EVIL_DESCRIPTION = `# Pets for everyone

A **friendly** API for pet shops.

<script>window.__pwned = 'script'</script>
<img src="x" onerror="window.__pwned = 'img'">
[A link](javascript:window.__pwned='link')`;

async function addPlan(page: Page, name: string, approval: 'Automatic' | 'Manual approval', rate: string) {
  const form = page.locator('details[data-plan-form="Add a plan"]');
  await form.getByLabel('Plan name').fill(name);
  await form.getByLabel('Approval').selectOption({ label: approval });
  await form.getByLabel('Rate limit (requests)').fill(rate);
  await form.getByLabel('Scopes keys may carry').fill('pets:read pets:write');
  await form.getByRole('button', { name: 'Add plan' }).click();
  await expect(page.locator(`details[data-plan-form="${name}"]`)).toBeVisible();
}

test('publish, subscribe, approve with MFA, reject with a reason, automatic plan', async ({ page, browser }) => {
  test.setTimeout(180_000);
  const scripts: string[] = [];
  page.on('dialog', (d) => {
    scripts.push(d.message());
    void d.dismiss();
  });

  // --- The publisher describes and publishes the API.
  await signIn(page, USERS.apiPublisher.email, USERS.apiPublisher.password);
  await page.getByRole('link', { name: 'Publish' }).click();
  await expect(page.getByText('You have not described an API yet.')).toBeVisible();
  await page.getByRole('link', { name: 'New API' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Pet Store');
  await page.getByLabel('Version').fill('v1');
  await page.getByLabel('Tags').fill('pets, demo');
  await page.getByLabel('Summary').fill('Pets, owners and adoptions for pet shops.');
  await page.getByLabel('Description (Markdown)').fill(EVIL_DESCRIPTION);
  await page.getByLabel('Upstream URL').fill('ftp://files.example/pets');
  await page.getByLabel('Gateway host name').fill('https://pets.example.com');
  await expect(page.getByLabel('Upstream protocol')).toHaveValue('auto');
  await page.getByRole('button', { name: 'Create draft' }).click();
  await expect(page.getByText('Enter an http:// or https:// URL')).toBeVisible();
  await expect(page.getByText('Enter only a host name, such as pets.api.example.com')).toBeVisible();
  await page.getByLabel('Upstream URL').fill('https://pets.internal:8443/v1');
  await page.getByLabel('Gateway host name').fill('');
  await page.getByLabel('Upstream protocol').selectOption({ label: 'HTTP/2 only (h2c with prior knowledge on http://)' });
  await page.getByRole('button', { name: 'Create draft' }).click();
  await page.waitForURL('**/publish/pet-store');
  await expect(page.getByLabel('Upstream protocol')).toHaveValue('http2');

  // A file over the limit is refused by the page before anything is sent.
  const uploads: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/upload_openapi_file')) uploads.push(r.url());
  });
  const file = page.getByLabel('OpenAPI file (JSON or YAML)');
  await file.setInputFiles({
    name: 'huge.yaml',
    mimeType: 'application/yaml',
    buffer: Buffer.alloc(9 * 1024 * 1024, 'x'),
  });
  await expect(page.getByText('The document is 9 MB; the limit is 8 MB.').first()).toBeVisible();
  await page.getByRole('button', { name: 'Save document' }).click();
  await expect(page.getByText('The document is 9 MB; the limit is 8 MB.').first()).toBeVisible();
  expect(uploads).toEqual([]);

  await file.setInputFiles({
    name: 'petstore.yaml',
    mimeType: 'application/yaml',
    buffer: Buffer.from(PETSTORE),
  });
  await page.getByRole('button', { name: 'Save document' }).click();
  await expect(page.getByText('Saved: 2 operations.')).toBeVisible();

  await page.getByRole('button', { name: 'Publish' }).click();
  await expect(page.getByText('Add at least one plan before publishing.')).toBeVisible();
  await addPlan(page, 'Gold', 'Manual approval', '100');
  await addPlan(page, 'Free', 'Automatic', '5');
  await page.getByRole('button', { name: 'Publish' }).click();
  await expect(page.locator('header').getByText('Published', { exact: true })).toBeVisible();
  await shot(page, 'publish-editor');

  // --- A developer finds it and subscribes.
  const devContext = await browser.newContext();
  const dev = await devContext.newPage();
  dev.on('dialog', (d) => {
    scripts.push(d.message());
    void d.dismiss();
  });
  await signIn(dev, USERS.apiDeveloper.email, USERS.apiDeveloper.password);
  await dev.getByRole('link', { name: 'Catalog' }).click();
  await dev.getByLabel('Search by name, summary or tag').fill('pet');
  await dev.getByRole('button', { name: 'Search' }).click();
  const card = dev.locator('li[data-api="pet-store"]');
  await expect(card).toBeVisible();
  await shot(dev, 'catalog');
  await card.getByRole('link', { name: 'Pet Store' }).click();
  await dev.waitForURL('**/catalog/pet-store');
  await expect(dev.getByRole('heading', { name: 'Pets for everyone' })).toBeVisible();
  expect(await dev.evaluate(() => (window as unknown as { __pwned?: string }).__pwned)).toBeUndefined();
  // The reference: operations grouped by tag, with parameters and schemas.
  await dev.getByText('List pets').click();
  await expect(dev.getByRole('cell', { name: 'limit' })).toBeVisible();
  await expect(dev.getByText('array of Pet')).toBeVisible();
  await shot(dev, 'api-page');

  await dev.getByRole('link', { name: 'create an application' }).first().click();
  for (const name of ['Storefront', 'Batch job', 'Analytics']) {
    await dev.getByLabel('Name').first().fill(name);
    await dev.getByRole('button', { name: 'Create application' }).click();
    await expect(dev.locator(`section[data-application="${name}"]`)).toBeVisible();
  }
  await open(dev, '/catalog/pet-store');
  const gold = dev.locator('div[data-plan="Gold"]');
  for (const name of ['Storefront', 'Batch job']) {
    await gold.getByLabel('Application').selectOption({ label: name });
    await gold.getByRole('button', { name: 'Subscribe to Gold' }).click();
    await expect(dev.getByText('Requested. The publisher reviews it')).toBeVisible();
  }
  const free = dev.locator('div[data-plan="Free"]');
  await free.getByLabel('Application').selectOption({ label: 'Analytics' });
  await free.getByRole('button', { name: 'Subscribe to Free' }).click();
  await expect(dev.getByText('Subscribed. Your application can use this API now.')).toBeVisible();
  const mine = dev.getByLabel('Your subscriptions');
  await expect(mine.locator('li', { hasText: 'Analytics' }).getByText('Active')).toBeVisible();
  await expect(mine.locator('li', { hasText: 'Storefront' }).getByText('Pending approval')).toBeVisible();

  // --- The publisher was told about the requests.
  await open(page, '/notifications');
  await expect(page.getByText('Approval needed: Storefront → Pet Store')).toBeVisible();

  // --- An admin approves one and rejects the other, confirming with a fresh code.
  const adminContext = await browser.newContext();
  const admin = await adminContext.newPage();
  await signIn(admin, USERS.approver.email, USERS.approver.password);
  const { secret } = await enrolMfa(admin);
  const last = { step: currentStep() };
  await admin.waitForTimeout(6_000); // past the (5 s, for tests) step-up window
  await open(admin, '/dashboard');
  await admin.getByRole('link', { name: 'Approvals' }).first().click();
  const storefront = admin.locator('li[data-application="Storefront"]');
  await expect(storefront).toBeVisible();
  await shot(admin, 'approvals');
  await storefront.getByRole('button', { name: 'Approve' }).click();
  await stepUp(admin, secret, last);
  await expect(admin.getByText('Done: the subscription is now active.')).toBeVisible();
  await expect(storefront).toHaveCount(0); // gone from the pending queue

  const batch = admin.locator('li[data-application="Batch job"]');
  await batch.getByText('Reject…').click();
  await batch.getByLabel('Reason (the developer sees it)').fill('Batch jobs belong on the Free plan.');
  await batch.getByRole('button', { name: 'Reject' }).click();
  await stepUpIfAsked(admin, secret, last, admin.getByText('Done: the subscription is now rejected.'));

  // --- The developer sees the outcome and the notifications.
  await open(dev, '/applications');
  await expect(dev.locator('section[data-application="Storefront"]').getByText('Active', { exact: true })).toBeVisible();
  const rejected = dev.locator('section[data-application="Batch job"]');
  await expect(rejected.getByText('Rejected', { exact: true })).toBeVisible();
  await expect(rejected.getByText('Reason: Batch jobs belong on the Free plan.')).toBeVisible();
  await shot(dev, 'applications');
  const bell = dev.getByRole('link', { name: 'Notifications, 2 unread' });
  await expect(bell).toBeVisible();
  await bell.click();
  await expect(dev.getByText('Subscription approved: Pet Store')).toBeVisible();
  await expect(dev.getByText('Subscription rejected: Pet Store')).toBeVisible();
  await shot(dev, 'notifications');
  await dev.getByRole('button', { name: 'Mark all as read' }).click();
  await expect(dev.getByRole('link', { name: 'Notifications', exact: true })).toBeVisible();

  expect(scripts, 'no script from the description ran').toEqual([]);
  await devContext.close();
  await adminContext.close();
});

test('an API name with markup characters reads as text in the tab, served and after navigation', async ({ page }) => {
  const slug = `marks-${Date.now()}`;
  const name = `</title><b>Pets</b> & "Co"`;
  await signIn(page, USERS.publisher.email, USERS.publisher.password);
  // Set up through the server functions, as the hydrated forms call them.
  const call = async (fn: string, form: Record<string, string>) => {
    const res = await page.request.post(`/api/${fn}`, {
      form,
      headers: { Accept: 'application/json', Origin: BASE_URL },
    });
    expect(res.ok(), `${fn}: ${await res.text()}`).toBeTruthy();
    return res.json();
  };
  await call('save_api', {
    name, slug, version: 'v1', summary: 'Marks and ampersands', description: '', tags: '',
    upstream_url: 'https://up.internal', visibility: 'public',
  });
  const api = await call('api_for_edit', { slug });
  await call('save_plan', {
    api_id: api.id, name: 'Free', description: '', rate_limit: '', rate_period: 'second', burst: '',
    quota: '', quota_period: 'month', approval: 'automatic', scopes: '', max_key_lifetime_days: '',
  });
  await call('change_lifecycle', { api_id: api.id, lifecycle: 'published' });

  // Rendered by the server, then hydrated: the same title, in words.
  await open(page, `/catalog/${slug}`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page).toHaveTitle(`${name} · Keyport`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(name);

  // Set by the browser after a client-side navigation: no entities in the tab either.
  await open(page, '/catalog?q=ampersands');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByRole('link', { name }).click();
  await page.waitForURL(`**/catalog/${slug}`);
  await expect(page).toHaveTitle(`${name} · Keyport`);
  await page.getByRole('link', { name: 'Edit API' }).click();
  await expect(page).toHaveTitle(`Edit ${name} · Keyport`);
});
