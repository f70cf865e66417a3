// A share's link in Debian's chromium, as a patient's phone opens it
// (375×667): the first image shows, a swipe of the wheel moves to another
// slice, the study downloads as a ZIP. With a second argument, the slip
// page printed to PDF (A5).
// Usage: node share.mjs SHARE_URL [SLIP_URL PDF_PATH]
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';

const [url, slip, pdfPath] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
const result = { ok: false };
try {
  const context = await browser.newContext({ viewport: { width: 375, height: 667 }, acceptDownloads: true, hasTouch: true, isMobile: true });
  const page = await context.newPage();
  const started = Date.now();
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  // The first image, decoded and shown.
  await page.waitForFunction(() => {
    const i = document.getElementById('img');
    return i && i.complete && i.naturalWidth > 0 && i.dataset.index === '0';
  }, null, { timeout: 2_000 });
  result.first_image_ms = Date.now() - started;
  result.header = await page.locator('header').innerText();
  result.slices = await page.locator('#pos').innerText();
  result.image_width = await page.evaluate(() => document.getElementById('img').getBoundingClientRect().width);
  // Scroll through the slices.
  await page.locator('#view').hover();
  for (let k = 0; k < 5; k++) await page.mouse.wheel(0, 120);
  await page.waitForFunction(() => {
    const i = document.getElementById('img');
    return +i.dataset.index > 0 && i.complete && i.naturalWidth > 0;
  }, null, { timeout: 10_000 });
  result.after_scroll = await page.locator('#pos').innerText();
  // Download the study.
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
  const path = await download.path();
  const zip = readFileSync(path);
  result.zip_bytes = zip.length;
  result.zip_magic = zip.subarray(0, 2).toString('latin1');
  if (slip) {
    const p = await context.newPage();
    await p.goto(slip, { waitUntil: 'load' });
    await p.pdf({ path: pdfPath, format: 'A5', printBackground: true });
    const pdf = readFileSync(pdfPath).toString('latin1');
    result.pdf_pages = (pdf.match(/\/Type\s*\/Page[^s]/g) || []).length;
  }
  result.ok = result.zip_magic === 'PK';
} catch (e) {
  result.error = String(e);
  try { result.text = await (browser.contexts()[0]?.pages()[0])?.evaluate(() => document.body.innerText); } catch {}
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
