import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { fromRoot } from '../../src/paths.js';
import { startTestMesh, type TestMesh } from '../helpers/mesh.js';
import { launch, newPage, shot, signIn } from './browser.js';

/**
 * The web console in a real browser against a whole mesh (PGlite): what an analyst and a domain
 * admin see and do, asserted on the page's content; each step leaves a screenshot in test-output/.
 */
/** CDM_CONSOLE_DOCS=1 refreshes the README's screenshots (docs/) from this run. */
function toDocs(path: string, name: string) {
  if (process.env.CDM_CONSOLE_DOCS !== '1') return;
  mkdirSync(fromRoot('docs'), { recursive: true });
  copyFileSync(path, fromRoot('docs', name));
}
const num = (s: string | null) => Number((s ?? '').replace(/[^0-9.eE+-]/g, ''));

describe('web console (chromium)', () => {
  let t: TestMesh;
  let browser: Browser;
  let base: string;
  let analyst: Page;
  let analystToken: string;

  before(async () => {
    t = await startTestMesh('pglite');
    base = t.mesh.gateway.url;
    browser = await launch();
    analystToken = await t.token('alice', ['analyst']);
    analyst = await newPage(browser);
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('serves the console at /console and sends / there, with no CDN', async () => {
    const res = await fetch(`${base}/`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/console/');
    const html = await (await fetch(`${base}/console/`)).text();
    assert.match(html, /<div id="root">/);
    const external: string[] = [];
    analyst.on('request', (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) external.push(r.url());
    });
    await analyst.goto(`${base}/console/`);
    await analyst.getByLabel('Bearer token').waitFor();
    assert.deepEqual(external, []);
  });

  it('refuses an invalid token at sign-in with its code', async () => {
    await analyst.getByLabel('Bearer token').fill('not.a.token');
    await analyst.getByRole('button', { name: 'Sign in' }).click();
    const alert = analyst.getByRole('alert');
    await alert.waitFor();
    assert.match((await alert.textContent())!, /UNAUTHENTICATED/);
  });

  it('signs an analyst in, shows who they are, and hides the admin pages', async () => {
    await signIn(analyst, base, analystToken);
    assert.equal(await analyst.getByTestId('whoami').textContent(), 'alice');
    assert.match((await analyst.locator('header .roles').textContent())!, /analyst/);
    assert.equal(await analyst.getByRole('link', { name: 'Admin' }).count(), 0);
    await analyst.goto(`${base}/console/#/admin/census`);
    await analyst.getByText('Admin pages are for domain admins only.').waitFor();
    await shot(analyst, 'analyst-no-admin');
  });

  it('searches the catalog across domains, datasets and columns, and opens a dataset', async () => {
    await analyst.goto(`${base}/console/#/catalog`);
    const cards = analyst.getByRole('list', { name: 'Datasets' }).getByRole('listitem');
    await cards.first().waitFor();
    const all = await cards.count();
    assert.ok(all >= 4, `every demo dataset is listed (${all})`);
    await analyst.getByLabel('Search domains, datasets and columns').fill('hours');
    await analyst.getByRole('status').filter({ hasText: /^1 result$/ }).waitFor();
    assert.match((await cards.first().textContent())!, /Adults[\s\S]*Matching columns:\s*hoursPerWeek/);
    await analyst.getByLabel('Search domains, datasets and columns').fill('USD');
    await analyst.getByRole('status').filter({ hasText: /result/ }).waitFor();
    assert.match((await cards.first().textContent())!, /capitalGain/);
    toDocs(await shot(analyst, 'catalog'), 'console-catalog.png');

    await analyst.getByRole('link', { name: 'Adults' }).click();
    await analyst.getByRole('heading', { name: /Adults/ }).waitFor();
    const body = (await analyst.locator('main').textContent())!;
    assert.match(body, /Privacy unit\s*row/);
    assert.match(body, /at most 1 rows and 1 groups per privacy unit/);
    assert.match(body, /Population statistics/);
    const age = analyst.getByRole('row', { name: /^age\b/ });
    assert.match((await age.textContent())!, /integer\s*years\s*\[17, 90\]/);
    assert.match((await analyst.getByRole('row', { name: /^sex\b/ }).textContent())!, /Female, Male/);
    await shot(analyst, 'dataset-adults');
  });

  it('pages through the rows of an open dataset', async () => {
    await analyst.goto(`${base}/console/#/dataset/reference/clinics`);
    const rows = analyst.getByRole('region', { name: 'Rows' }).locator('tbody tr');
    await analyst.getByText('Page 1 · 40 rows in all').waitFor();
    assert.equal(await rows.count(), 10);
    const first = await rows.first().textContent();
    await analyst.getByRole('button', { name: 'Next page' }).click();
    await analyst.getByText('Page 2 · 40 rows in all').waitFor();
    assert.notEqual(await rows.first().textContent(), first);
    await shot(analyst, 'open-rows');
  });

  it('previews the cost of a filtered DP count, runs it, and shows its interval; the budget goes down', async () => {
    const before = (await t.gql(`{ census { budget { epsilonSpent epsilonRemaining } } }`, {}, analystToken)).body.data.census.budget;
    await analyst.goto(`${base}/console/#/query/census/adults`);
    await analyst.getByLabel('Aggregate').selectOption('count');
    await analyst.getByRole('button', { name: 'Add filter' }).click();
    await analyst.getByLabel('Filter 1 column').selectOption('sex');
    await analyst.getByLabel('Filter 1 value').selectOption('Female');
    await analyst.getByLabel('Epsilon', { exact: true }).fill('0.5');
    // The cost preview comes before anything runs (and charges nothing).
    await analyst.getByTestId('cost-epsilon').filter({ hasText: '0.5' }).waitFor();
    assert.match((await analyst.getByTestId('cost-error').textContent())!, /± [\d.,]+ \(95%\)/);
    const remainingAfter = num(await analyst.getByTestId('cost-remaining').textContent());
    assert.ok(Math.abs(remainingAfter - (before.epsilonRemaining - 0.5)) < 0.02, `remaining after ${remainingAfter}, before ${before.epsilonRemaining}`);
    const unchanged = (await t.gql(`{ census { budget { epsilonSpent } } }`, {}, analystToken)).body.data.census.budget;
    assert.equal(unchanged.epsilonSpent, before.epsilonSpent, 'a preview charges nothing');
    const gql = (await analyst.getByRole('region', { name: 'GraphQL' }).locator('pre').textContent())!;
    assert.match(gql, /count\(where: \{ sex: \{ eq: "Female" \} \}, privacy: \{ epsilon: 0.5 \}\)/);
    assert.match((await analyst.getByRole('region', { name: 'DP SQL' }).locator('pre').textContent())!, /SELECT COUNT\(\*\)\s+FROM adults\s+WHERE sex = 'Female'/);

    await analyst.getByRole('button', { name: 'Run query' }).click();
    const value = num(await analyst.getByTestId('answer-value').textContent());
    // 9,782 women in the cleaned UCI Adult data; the 95% interval is about +-6 at epsilon 0.5.
    assert.ok(Math.abs(value - 9782) < 100, `noisy count ${value}`);
    const interval = (await analyst.getByTestId('answer-interval').textContent())!;
    const m = /95% confidence interval \[([\d,.-]+), ([\d,.-]+)\]/.exec(interval);
    assert.ok(m, interval);
    assert.ok(num(m[1]!) < value && value < num(m[2]!), interval);
    assert.equal(await analyst.getByRole('region', { name: 'Answer' }).locator('svg .interval').count(), 1, 'the interval is drawn');
    await shot(analyst, 'query-count');
    const afterRun = (await t.gql(`{ census { budget { epsilonSpent epsilonRemaining } } }`, {}, analystToken)).body.data.census.budget;
    assert.ok(afterRun.epsilonSpent > before.epsilonSpent && afterRun.epsilonSpent <= before.epsilonSpent + 0.5 + 1e-9);
  });

  it('runs a grouped histogram and draws bars with their intervals', async () => {
    await analyst.goto(`${base}/console/#/query/census/adults`);
    await analyst.getByLabel('Aggregate').selectOption('histogram');
    const groupBy = analyst.getByRole('group', { name: 'Group by (1 to 3 columns)' });
    await groupBy.getByLabel('workclass').uncheck();
    await groupBy.getByLabel('race').check();
    await analyst.getByLabel('Epsilon', { exact: true }).fill('1');
    await analyst.getByTestId('cost-epsilon').filter({ hasText: /^1$/ }).waitFor();
    await analyst.getByRole('button', { name: 'Run query' }).click();
    const answer = analyst.getByRole('region', { name: 'Answer' });
    await answer.waitFor();
    const rows = answer.locator('tbody tr');
    assert.equal(await rows.count(), 5, 'one bucket per public race category');
    assert.match((await answer.textContent())!, /White[\s\S]*Black/);
    assert.equal(await answer.locator('svg [aria-label="bar"] rect, svg g[aria-label="bar"] rect').count(), 5, 'five bars');
    assert.equal(await answer.locator('svg .interval line').count(), 5, 'five interval rules');
    toDocs(await shot(analyst, 'query-histogram'), 'console-query.png');
  });

  it('shows the budget spent and remaining with the releases made', async () => {
    const budget = (await t.gql(`{ census { budget { epsilonSpent epsilonRemaining } } }`, {}, analystToken)).body.data.census.budget;
    await analyst.goto(`${base}/console/#/budgets`);
    const spent = num(await analyst.getByTestId('spent-census').textContent());
    assert.ok(spent > 0 && Math.abs(spent - budget.epsilonSpent) < 1e-3, `${spent} vs ${budget.epsilonSpent}`);
    assert.ok(Math.abs(num(await analyst.getByTestId('remaining-census').textContent()) - budget.epsilonRemaining) < 1e-3);
    const panel = analyst.getByRole('article', { name: 'Budget in census' });
    assert.equal(await panel.locator('tbody tr').count(), 2, 'the two releases made from the console');
    assert.match((await panel.textContent())!, /GROUP BY race/);
    assert.ok((await panel.locator('svg').count()) >= 1, 'a chart of the spend over time');
    await shot(analyst, 'budgets');
  });

  it('runs a query in the bundled GraphiQL with the token added', async () => {
    await analyst.goto(`${base}/console/#/playground`);
    // The editors load lazily (Monaco): run only once the query is in the editor.
    await analyst.waitForFunction(`document.querySelector('.graphiql-query-editor')?.textContent.includes('roles')`, null, { timeout: 60_000 });
    await analyst.getByRole('button', { name: /Execute query/i }).click();
    const response = analyst.locator('.graphiql-response');
    await analyst.waitForFunction(`document.querySelector('.graphiql-response')?.textContent.includes('alice')`, null, { timeout: 60_000 });
    assert.match((await response.textContent())!, /"me"[\s\S]*"roles"[\s\S]*"analyst"/);
    await shot(analyst, 'playground');
  });

  it('previews synthetic rows, downloads them as CSV and lists the fitted model', async () => {
    await analyst.goto(`${base}/console/#/synthetic/census/adults`);
    await analyst.getByLabel('Rows', { exact: true }).fill('12');
    await analyst.getByRole('button', { name: 'Preview synthetic rows' }).click();
    const table = analyst.getByRole('table', { name: 'Synthetic rows' });
    await table.waitFor({ timeout: 120_000 });
    assert.equal(await table.locator('tbody tr').count(), 12);
    assert.match((await analyst.getByRole('status').filter({ hasText: /^Model / }).textContent())!, /aim, ε 1, fitted and charged now/);
    const models = analyst.getByRole('table', { name: 'Fitted models' });
    await models.locator('tbody tr').first().waitFor();
    assert.match((await models.textContent())!, /adults\s*aim\s*1/);
    const [download] = await Promise.all([analyst.waitForEvent('download'), analyst.getByRole('button', { name: 'Download CSV' }).click()]);
    const csv = readFileSync((await download.path())!, 'utf8').trim().split('\n');
    assert.match(csv[0]!, /^age,workclass,education/);
    assert.equal(csv.length, 13, 'a header and the 12 rows asked');
    await shot(analyst, 'synthetic');
  });

  it('lets a domain admin raise a budget, confirmed, and see it applied; the audit chain verifies', async () => {
    const admin = await newPage(browser);
    await signIn(admin, base, await t.token('dana', ['admin:census']));
    await admin.getByRole('link', { name: 'Admin' }).click();
    await admin.getByRole('heading', { name: /Admin: Census income/ }).waitFor();
    const principals = admin.getByRole('table', { name: 'Principals' });
    await principals.getByRole('row', { name: /alice/ }).waitFor();
    await admin.getByRole('button', { name: 'Manage alice' }).click();
    await admin.getByLabel('New total epsilon').fill('25');
    await admin.getByRole('button', { name: 'Set budget' }).click();
    const dialog = admin.getByRole('dialog');
    assert.match((await dialog.textContent())!, /Set the budget of alice in census to ε 25/);
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await admin.getByText('Budget of alice set to ε 25.').waitFor();
    assert.match((await admin.getByTestId('admin-budget').textContent())!, /cap ε 25/);
    const applied = (await t.gql(`{ census { budget { epsilon } } }`, {}, analystToken)).body.data.census.budget;
    assert.equal(applied.epsilon, 25);

    // A refused action shows the mesh's error code.
    await admin.getByLabel('Epsilon to grant').fill('5000');
    await admin.getByRole('button', { name: 'Grant budget' }).click();
    await admin.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await admin.getByRole('alert').filter({ hasText: 'BAD_USER_INPUT' }).waitFor();

    await admin.getByRole('button', { name: 'Verify the hash chain' }).click();
    assert.match((await admin.getByTestId('audit-status').textContent())!, /Chain intact: \d+ entries verified/);
    await admin.getByRole('table', { name: 'Audit entries' }).getByText('admin.setBudget').waitFor();
    await shot(admin, 'admin');
    await admin.context().close();
  });

  it('sends an expired token back to sign-in with the reason', async () => {
    const page = await newPage(browser);
    await signIn(page, base, await t.token('erin', ['analyst']));
    // The session's token runs out (its exp is a minute past) while the console is open.
    const expired = await t.token('erin', ['analyst'], '-1m');
    await page.evaluate(`sessionStorage.setItem('cdm.console.token', ${JSON.stringify(expired)})`);
    await page.getByRole('link', { name: 'Budgets' }).click();
    const reason = page.getByTestId('signout-reason');
    await reason.waitFor();
    assert.match((await reason.textContent())!, /invalid or expired/);
    await page.getByLabel('Bearer token').waitFor();
    assert.equal(await page.evaluate(`sessionStorage.getItem('cdm.console.token')`), null, 'the dead token is forgotten');
    await shot(page, 'expired');
    await page.context().close();
  });

  it('fits a narrow window', async () => {
    const page = await newPage(browser, 390, 844);
    await signIn(page, base, analystToken);
    await page.goto(`${base}/console/#/query/census/adults`);
    await page.getByTestId('cost-epsilon').waitFor();
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    assert.ok(overflow <= 1, `no horizontal scrolling (${overflow}px too wide)`);
    await shot(page, 'narrow-query');
    await page.context().close();
  });
});
