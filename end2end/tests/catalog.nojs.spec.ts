// The developer's side of the catalog without JavaScript: search, read an API's page and its
// reference (native <details>), create an application, subscribe and cancel with plain form
// posts; a publisher replaces the OpenAPI document with a file upload. Each test publishes
// its own API first.
import { expect, test } from '@playwright/test';
import { USERS, publishedApi } from './fixtures';

const ADOPTIONS = `openapi: 3.0.3
info: {title: Adoptions, version: '1.0'}
paths:
  /pets:
    post:
      summary: Add a pet
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, properties: {name: {type: string}}}
      responses:
        '201': {description: Created}
`;

test('browse, subscribe and cancel without JavaScript', async ({ page }) => {
  const slug = `adoptions-${Date.now()}`;
  await publishedApi(slug, 'Adoption Desk', {
    description: '# Pets for everyone\n\nFind a home for a pet.',
    tags: 'adoptions, pets',
    openapi: ADOPTIONS,
  });
  await page.goto('/sign-in');
  await page.getByLabel('Email').fill(USERS.plainDeveloper.email);
  await page.getByLabel('Password', { exact: true }).fill(USERS.plainDeveloper.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL('**/dashboard');
  await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');

  await page.goto('/catalog');
  await page.getByLabel('Search by name, summary or tag').fill('adoptions');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/q=adoptions/);
  await page.locator(`li[data-api="${slug}"]`).getByRole('link', { name: 'Adoption Desk' }).click();
  await expect(page.getByRole('heading', { name: 'Pets for everyone' })).toBeVisible();
  await page.getByText('Add a pet').click();
  await page.getByRole('link', { name: 'Show the details of POST /pets' }).click();
  await expect(page.getByText('Request body (required)')).toBeVisible();

  // An application made with a plain form post, then subscribed to the automatic plan.
  const app = `Plain shop ${Date.now()}`;
  await page.goto('/applications');
  await page.getByLabel('Name').first().fill(app);
  await page.getByRole('button', { name: 'Create application' }).click();
  await expect(page.locator(`section[data-application="${app}"]`)).toBeVisible();
  await page.goto(`/catalog/${slug}`);
  const free = page.locator('div[data-plan="Free"]');
  await free.getByLabel('Application').selectOption({ label: app });
  await free.getByRole('button', { name: 'Subscribe to Free' }).click();
  const mine = page.getByLabel('Your subscriptions');
  await expect(mine.locator('li', { hasText: app }).getByText('Active')).toBeVisible();

  await page.goto('/applications');
  const live = page.locator(`section[data-application="${app}"]`).locator('li', { hasText: 'Free plan' });
  await live.getByText('Cancel…').click();
  await live.getByRole('button', { name: 'Yes, cancel it' }).click();
  await expect(page.locator(`section[data-application="${app}"]`).locator('li', { hasText: 'Free plan' }).getByText('Cancelled')).toBeVisible();
});

test('a publisher uploads an OpenAPI file without JavaScript', async ({ page }) => {
  const slug = `uploads-${Date.now()}`;
  await publishedApi(slug, 'Pet Store', { openapi: ADOPTIONS });
  await page.goto('/sign-in');
  await page.getByLabel('Email').fill(USERS.fixturePublisher.email);
  await page.getByLabel('Password', { exact: true }).fill(USERS.fixturePublisher.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL('**/dashboard');
  await page.goto(`/publish/${slug}`);
  const file = page.getByLabel('OpenAPI file (JSON or YAML)');

  // A refused document comes back to the editor with the reason; nothing changes.
  await file.setInputFiles({ name: 'old.yaml', mimeType: 'application/yaml', buffer: Buffer.from("swagger: '2.0'\n") });
  await page.getByRole('button', { name: 'Save document' }).click();
  await expect(page.getByText('This is a Swagger 2.0 document; convert it to OpenAPI 3 first.').first()).toBeVisible();
  await expect(page.getByText(/^1 operations? in the reference/)).toBeVisible();

  // A schema that contains itself is shown with a marker, not expanded without end.
  const doc = `openapi: 3.0.3
info: {title: Pet Store, version: '1.1'}
tags: [{name: pets, description: Everything about pets}]
paths:
  /pets:
    get:
      tags: [pets]
      summary: List pets
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
  /pets/{id}/family:
    get:
      tags: [pets]
      summary: A pet's family tree
      parameters:
        - {name: id, in: path, required: true, schema: {type: string, description: 'The pet, by **id**'}}
      responses:
        '200':
          description: The tree
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Pet'}
components:
  schemas:
    Pet:
      type: object
      properties:
        name: {type: string}
        parent: {$ref: '#/components/schemas/Pet'}
`;
  await file.setInputFiles({ name: 'petstore.yaml', mimeType: 'application/yaml', buffer: Buffer.from(doc) });
  await page.getByRole('button', { name: 'Save document' }).click();
  await expect(page.getByText(/^3 operations in the reference/)).toBeVisible();
  await page.goto(`/catalog/${slug}`);
  await page.getByText("A pet's family tree").click();
  // The page carries each operation's line; its details come from a link (the address
  // names the operation, which the server renders open).
  const family = page.locator('details', { hasText: "A pet's family tree" });
  await family.getByRole('link', { name: /^Show the details of GET / }).click();
  await expect(page).toHaveURL(/\?op=op-get-/);
  // Only this operation is open: look for the marker inside it (GET /pets has one too, folded).
  await expect(family.getByRole('cell', { name: 'The pet, by id' })).toBeVisible();
  await expect(family.getByText('(recursive: Pet)').first()).toBeVisible();
});
