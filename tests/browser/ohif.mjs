// Drives the OHIF viewer served by Filmless in Debian's chromium:
// finds a study in the study list by patient name, opens it, and checks
// that the viewport shows a non-black image and the right image count;
// the facility's name is in the study list's and the viewer's header, and
// the viewer's Console link leads to the administration console.
// Usage: node ohif.mjs BASE_URL FAMILY_NAME STUDY_DESCRIPTION IMAGES SCREENSHOT
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { brightFraction } from './png.mjs';

const [base, family, description, images, screenshot] = process.argv.slice(2);
const deadline = Date.now() + 90_000;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic', '--enable-unsafe-swiftshader'],
});
const result = { ok: false };
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('response', r => { if (r.status() >= 400 && r.url().includes('/dicom-web/')) errors.push(`${r.status()} ${r.url()}`); });
  // The study list, filtered by patient name as a radiologist types it.
  await page.goto(`${base}/?patientName=${encodeURIComponent(family)}`, { waitUntil: 'load' });
  const row = page.getByText(description, { exact: true }).first();
  await row.waitFor({ timeout: 60_000 });
  result.foundInList = true;
  result.listSite = await page.locator('[data-filmless=site]').first().innerText();
  await row.click();
  await page.getByRole('button', { name: /Basic Viewer/i }).first().click({ timeout: 30_000 });
  // Wait for pixels in the viewport.
  const canvas = page.locator('canvas.cornerstone-canvas, .cornerstone-viewport-element canvas, canvas').first();
  await canvas.waitFor({ timeout: 60_000 });
  let fraction = 0;
  while (Date.now() < deadline) {
    fraction = brightFraction(await canvas.screenshot());
    if (fraction > 0.05) break;
    await page.waitForTimeout(500);
  }
  result.brightFraction = fraction;
  const text = await page.evaluate(() => document.body.innerText);
  result.imageCount = (text.match(/\(1\/(\d+)\)/) || [])[1] || null;
  await page.screenshot({ path: screenshot });
  // Set up for daily use: no first-run tour, no investigational-use
  // dialog in front of the images.
  result.tourSteps = await page.locator('.shepherd-element').count();
  result.investigationalDialog = await page.getByText(/investigational use/i).count();
  result.errors = errors;
  // An error in the page goes to the server's log, not the screen.
  await page.evaluate(() => setTimeout(() => { throw new Error('filmless-viewer-test-error'); }, 0));
  await page.waitForTimeout(500);
  const site = page.locator('[data-filmless=site]').first();
  result.viewerSite = await site.innerText();
  await site.getByRole('link', { name: 'Console' }).click();
  await page.waitForURL(/\/admin$/, { timeout: 30_000 });
  result.consoleUrl = new URL(page.url()).pathname;
  result.consoleLinksBack = await page.locator('a[href="/"]').count();
  result.ok = fraction > 0.05 && result.imageCount === images && errors.length === 0;
} catch (e) {
  result.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
