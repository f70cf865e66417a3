// The OHIF study list served by Filmless, in Debian's chromium: filtered
// by patient name as a radiologist types it, the row of a study shows the
// texts expected (an accented name, a patient ID).
// Usage: node study_list.mjs BASE_URL NAME_FILTER TEXT...
// Prints one JSON line with the list's text; exits non-zero on failure.
import { chromium } from 'playwright-core';

const [base, filter, ...expected] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
const result = { ok: false };
try {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  await page.goto(`${base}/?patientName=${encodeURIComponent(filter)}`, { waitUntil: 'load' });
  for (const text of expected) {
    await page.getByText(text).first().waitFor({ timeout: 60_000 });
  }
  result.text = await page.evaluate(() => document.body.innerText);
  result.ok = expected.every(t => result.text.includes(t));
} catch (e) {
  result.error = String(e);
  try { result.text = await (browser.contexts()[0]?.pages()[0])?.evaluate(() => document.body.innerText); } catch {}
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
