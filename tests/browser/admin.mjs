// The administration console in Debian's chromium, as an IT engineer uses
// it: the study search finds the seeded study, its accession number is
// changed from the Modify dialog, an instance rejected and another
// deleted from the series dialog, every tab loads, a peer answers the
// C-ECHO button, the study's patient is merged into a new ID from its row,
// the storage tab draws a bar
// per month and the forecast, with its formula; the audit tab lists events.
// Usage: node admin.mjs CONSOLE_URL PATIENT_ID
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';

const [url, patientId] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
const result = { ok: false };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  result.title = await page.title();
  // Search by patient ID.
  await page.fill('input[name=PatientID]', patientId);
  await page.click('#study-search button');
  await page.waitForFunction(() => document.querySelectorAll('#studies-rows tr[data-study]').length > 0, null, { timeout: 10_000 });
  result.studies = await page.locator('#studies-rows tr[data-study]').count();
  result.open_link = await page.locator('#studies-rows a').first().getAttribute('href');
  // Modify the study: a new accession number, from the dialog.
  await page.locator('#studies-rows button.correct').first().click();
  await page.fill('#modify-form input[name=accession_number]', 'ACC-CONSOLE-1');
  await page.click('#modify-form button[value=save]');
  await page.waitForFunction(() => document.querySelector('#studies-rows tr[data-study] td:nth-child(4)')?.textContent === 'ACC-CONSOLE-1', null, { timeout: 10_000 });
  result.accession = await page.locator('#studies-rows tr[data-study] td').nth(3).innerText();
  // Storage: the chart.
  await page.click('nav button[data-tab=storage]');
  await page.waitForFunction(() => document.querySelectorAll('#chart rect.bar').length > 0, null, { timeout: 10_000 });
  result.bars = await page.locator('#chart rect.bar').count();
  result.forecast_points = await page.locator('#chart circle.forecast').count();
  result.bar_heights = await page.$$eval('#chart rect.bar', (rs) => rs.map((r) => +r.getAttribute('height')));
  result.formula = await page.locator('#formula').innerText();
  // Audit trail.
  await page.click('nav button[data-tab=audit]');
  await page.waitForFunction(() => document.querySelectorAll('#audit-rows tr').length > 0 && !document.querySelector('#audit-rows .err'), null, { timeout: 10_000 });
  result.audit_rows = await page.locator('#audit-rows tr').count();
  // Users: add one, see it listed.
  await page.click('nav button[data-tab=users]');
  await page.fill('#user-add input[name=name]', 'night-tech');
  await page.selectOption('#user-add select[name=roles]', 'uploader');
  await page.fill('#user-add input[name=password]', 'long-enough-7');
  await page.click('#user-add button');
  await page.waitForFunction(() => [...document.querySelectorAll('#users-rows tr')].some((r) => r.dataset.name === 'night-tech'), null, { timeout: 10_000 });
  result.user_roles = await page.locator('#users-rows tr[data-name=night-tech] td').nth(1).innerText();
  // Disabled from its row.
  await page.locator('#users-rows tr[data-name=night-tech] button.toggle').click();
  await page.waitForFunction(() => document.querySelector('#users-rows tr[data-name=night-tech] td.state')?.textContent === 'disabled', null, { timeout: 10_000 });
  result.user_state = await page.locator('#users-rows tr[data-name=night-tech] td.state').innerText();
  // The other tabs load without an error (a failing load shows .err).
  result.tabs = {};
  for (const tab of ['jobs', 'shares', 'films', 'rejected', 'peers']) {
    await page.click(`nav button[data-tab=${tab}]`);
    await page.waitForTimeout(300);
    await page.waitForLoadState('networkidle');
    result.tabs[tab] = await page.locator(`#${tab} .err`).count() === 0 ? 'ok' : await page.locator(`#${tab}`).innerText();
  }
  // C-ECHO from the peers tab.
  await page.locator('#peers-rows tr[data-ae=ECHOSCP] button').click();
  await page.waitForFunction(() => !['', '…'].includes(document.querySelector('#peers-rows tr[data-ae=ECHOSCP] .echo')?.textContent), null, { timeout: 20_000 });
  result.echo = await page.locator('#peers-rows tr[data-ae=ECHOSCP] .echo').innerText();
  // One instance rejected and one deleted, each with its reason, from the
  // study's series dialog.
  await page.click('nav button[data-tab=studies]');
  await page.locator('#studies-rows button.parts').first().click();
  await page.waitForSelector('#parts-rows tr.series');
  await page.locator('#parts-rows button[data-do=instances]').first().click();
  await page.waitForSelector('#parts-rows tr.instance');
  const before = await page.locator('#parts-rows tr.instance').count();
  result.instances_before = before;
  result.rejected_sop = await page.locator('#parts-rows tr.instance').first().getAttribute('data-sop');
  page.once('dialog', (d) => d.accept('113001'));
  await page.locator('#parts-rows tr.instance button[data-do=reject]').first().click();
  await page.waitForFunction((n) => document.querySelectorAll('#parts-rows tr.instance').length === n - 1, before, { timeout: 10_000 });
  result.deleted_sop = await page.locator('#parts-rows tr.instance').first().getAttribute('data-sop');
  page.once('dialog', (d) => d.accept('sent to the wrong patient'));
  await page.locator('#parts-rows tr.instance button[data-do=delete]').first().click();
  await page.waitForFunction((n) => document.querySelectorAll('#parts-rows tr.instance').length === n - 2, before, { timeout: 10_000 });
  result.instances_after = await page.locator('#parts-rows tr.instance').count();
  await page.locator('#parts form[method=dialog] button').click();
  // The study's patient merged into a new ID (a wrong ID at the
  // modality) from its row: the survivor's studies are listed.
  await page.locator('#studies-rows button.merge').first().click();
  result.merge_from = await page.inputValue('#merge-form input[name=from_id]');
  await page.fill('#merge-form input[name=into_id]', 'MERGED-CONSOLE');
  await page.fill('#merge-form input[name=name]', 'MERGED^CONSOLE');
  await page.click('#merge-form button[value=save]');
  await page.waitForFunction(() => document.querySelector('#merge-result')?.textContent.startsWith('Merged'), null, { timeout: 10_000 });
  result.merged = await page.locator('#merge-result').innerText();
  await page.waitForFunction(() => document.querySelector('#studies-rows tr[data-study] td:nth-child(3)')?.textContent === 'MERGED-CONSOLE', null, { timeout: 10_000 });
  result.merged_rows = await page.locator('#studies-rows tr[data-study]').count();
  result.merged_name = await page.locator('#studies-rows tr[data-study] td').nth(1).innerText();
  result.errors = errors;
  result.ok = errors.length === 0 && result.studies > 0 && result.bars > 0;
} catch (e) {
  result.error = String(e);
  try { result.text = await (browser.contexts()[0]?.pages()[0])?.evaluate(() => document.body.innerText); } catch {}
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
