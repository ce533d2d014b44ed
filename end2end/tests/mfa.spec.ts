// TOTP MFA as a person uses it: enrol from the Security page, sign in with a code, confirm a
// sensitive action in the step-up dialog, and sign in with a recovery code.
import { expect, test, type Page } from '@playwright/test';
import {
  PASSWORD, enrolMfa, open, openAccountMenu, shot, signUp, totpCode,
} from './fixtures';

/** Signs out, then passes the password step; the code step is next. */
async function signOutAndEnterPassword(page: Page, email: string): Promise<void> {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await open(page, '/sign-in');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(/\/sign-in\/mfa\?next=/);
}

test('enrol, sign in with a code, step up, use a recovery code', async ({ page }) => {
  const email = `mfa-${Date.now()}@example.com`;
  await signUp(page, 'Margaret Hamilton', email);
  await expect(page.getByText('2FA off')).toBeVisible();

  const { secret, recoveryCodes } = await enrolMfa(page);
  await shot(page, 'security-recovery-codes');

  // Sign out and back in: the password alone is not enough.
  await signOutAndEnterPassword(page, email);
  await shot(page, 'sign-in-code');
  await page.getByLabel('Authentication code').fill('000000');
  await page.getByRole('button', { name: 'Verify and sign in' }).click();
  await expect(page.locator('#field-code-error')).toContainText('not valid');
  await page.getByLabel('Authentication code').fill(totpCode(secret, 30));
  await page.getByRole('button', { name: 'Verify and sign in' }).click();
  await page.waitForURL('**/dashboard');
  await expect(page.getByText('2FA on')).toBeVisible();

  // A sensitive action after the step-up window asks for a code, then completes by itself.
  await page.waitForTimeout(6_000);
  await open(page, '/account/security');
  await page.getByRole('button', { name: 'Make new recovery codes' }).click();
  const dialog = page.getByRole('dialog', { name: "Confirm it's you" });
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Authentication code').fill('999999');
  await dialog.getByRole('button', { name: 'Confirm and continue' }).click();
  await expect(dialog.locator('#field-code-error')).toContainText('not valid');
  // The dialog takes a recovery code too (the last TOTP step is spent).
  await dialog.getByLabel('Authentication code').fill(recoveryCodes[0]);
  await dialog.getByRole('button', { name: 'Confirm and continue' }).click();
  await expect(dialog).toBeHidden();
  const list = page.getByRole('list', { name: 'Recovery codes' });
  await expect(list).toBeVisible();
  const fresh = (await list.getByRole('listitem').allTextContents()).map((s) => s.trim());

  // A recovery code signs in once.
  await signOutAndEnterPassword(page, email);
  await page.getByLabel('Authentication code').fill(fresh[0]);
  await page.getByRole('button', { name: 'Verify and sign in' }).click();
  await page.waitForURL('**/dashboard');
  await expect(page.getByText('9 recovery codes left', { exact: false })).toBeVisible();

  await openAccountMenu(page);
  await page.getByRole('link', { name: 'Sessions' }).click();
  await expect(page.getByText('This session')).toBeVisible();
  await shot(page, 'sessions');
});
