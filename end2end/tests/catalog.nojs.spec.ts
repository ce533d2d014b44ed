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
  // After a rejection, a new subscription to the API waits for the publisher whatever the
  // plan says.
  const free = page.locator('div[data-plan="Free"]');
  await free.getByLabel('Application').selectOption({ label: 'Batch job' });
  await free.getByRole('button', { name: 'Subscribe to Free' }).click();
  const mine = page.getByLabel('Your subscriptions');
  await expect(mine.locator('li', { hasText: 'Batch job' }).getByText('Pending approval')).toBeVisible();

  await page.goto('/applications');
  const batch = page.locator('section[data-application="Batch job"]');
  const live = batch.locator('li', { hasText: 'Free plan' });
  await live.getByText('Cancel…').click();
  await live.getByRole('button', { name: 'Yes, cancel it' }).click();
  await expect(page.locator('section[data-application="Batch job"]').locator('li', { hasText: 'Free plan' }).getByText('Cancelled')).toBeVisible();

  await page.goto('/notifications');
  await expect(page.getByText('Subscription rejected: Pet Store')).toBeVisible();
});

test('a publisher uploads an OpenAPI file without JavaScript', async ({ page }) => {
  await page.goto('/sign-in');
  await page.getByLabel('Email').fill(USERS.apiPublisher.email);
  await page.getByLabel('Password', { exact: true }).fill(USERS.apiPublisher.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL('**/dashboard');
  await page.goto('/publish/pet-store');
  const file = page.getByLabel('OpenAPI file (JSON or YAML)');

  // A refused document comes back to the editor with the reason; nothing changes.
  await file.setInputFiles({ name: 'old.yaml', mimeType: 'application/yaml', buffer: Buffer.from("swagger: '2.0'\n") });
  await page.getByRole('button', { name: 'Save document' }).click();
  await expect(page.getByText('This is a Swagger 2.0 document; convert it to OpenAPI 3 first.').first()).toBeVisible();
  await expect(page.getByText(/^2 operations in the reference/)).toBeVisible();

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
  await page.goto('/catalog/pet-store');
  await page.getByText("A pet's family tree").click();
  // Only this operation is open: look for the marker inside it (GET /pets has one too, folded).
  const family = page.locator('details', { hasText: "A pet's family tree" });
  await expect(family.getByRole('cell', { name: 'The pet, by id' })).toBeVisible();
  await expect(family.getByText('(recursive: Pet)').first()).toBeVisible();
});
