// OHIF opened from a share's link (`/viewer?StudyInstanceUIDs=…&share=TOKEN`),
// in Debian's chromium: the viewport shows the study's image, and every
// DICOMweb request goes through the share's own prefix (none to the
// staff's /dicom-web, which would ask for credentials).
// Usage: node share_ohif.mjs VIEWER_URL
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { brightFraction } from './png.mjs';

const [url] = process.argv.slice(2);
const deadline = Date.now() + 90_000;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic', '--enable-unsafe-swiftshader'],
});
const result = { ok: false, outside: [], errors: [] };
try {
  const page = await (await browser.newContext({ viewport: { width: 1200, height: 800 } })).newPage();
  page.on('request', r => {
    const u = new URL(r.url());
    if (u.pathname.includes('/dicom-web') && !u.pathname.startsWith('/s/')) result.outside.push(u.pathname);
  });
  page.on('response', r => { if (r.status() >= 400 && r.url().includes('/dicom-web/')) result.errors.push(`${r.status()} ${r.url()}`); });
  await page.goto(url, { waitUntil: 'load' });
  const canvas = page.locator('canvas.cornerstone-canvas, .cornerstone-viewport-element canvas, canvas').first();
  await canvas.waitFor({ timeout: 60_000 });
  let fraction = 0;
  while (Date.now() < deadline) {
    fraction = brightFraction(await canvas.screenshot());
    if (fraction > 0.05) break;
    await page.waitForTimeout(500);
  }
  result.brightFraction = fraction;
  result.ok = fraction > 0.05 && result.outside.length === 0 && result.errors.length === 0;
} catch (e) {
  result.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
