// device.mjs - the browser's half of docker-credential-atcr's device login (tests/integration/device.sh runs
// the helpers): Debian's chromium driven by playwright-core opens the first helper's verification URL while
// logged out and is sent to /login with the way back in `next`, logs in through the reference PDS's own
// sign-in and consent pages (the steps of login.mjs), comes back to /device with the code, sees the code and
// the device's name, approves it; denies the second helper's code; refuses a malformed and an unknown code;
// approves the third helper's code, waits on /settings until that device is listed and revokes it there.
// Screenshots go to OUT_DIR (device-*.png). TAP output.
// Env: APPVIEW_URL (http://127.0.0.1:PORT), HANDLE, PASSWORD (the account's, for the PDS sign-in page),
// APPROVE_URL, APPROVE_CODE, APPROVE_NAME, DENY_URL, DENY_NAME, REVOKE_URL, REVOKE_NAME (each helper's
// verification_uri_complete, code and device name), OUT_DIR, PEERS_DIR (the node tree with playwright-core),
// CHROMIUM (/usr/bin/chromium).
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = (k, d) => process.env[k] ?? d;
const appview = env('APPVIEW_URL'), handle = env('HANDLE'), password = env('PASSWORD');
const out = env('OUT_DIR', 'tests/out');
const require = createRequire(join(env('PEERS_DIR', '.'), 'node_modules') + '/');
const { chromium } = require('playwright-core');

let n = 0, failed = 0;
const ok = (cond, name) => {
	n++;
	if (!cond) failed++;
	console.log(`${cond ? '' : 'not '}ok ${n} - ${name}`);
	return cond;
};
const diag = (s) => console.log(String(s).split('\n').map((l) => `# ${l}`).join('\n'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

mkdirSync(out, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'atcr-chromium-'));
let context;
async function shot(page, name) {
	await page.screenshot({ path: join(out, `device-${name}.png`), fullPage: true });
}

// The login steps of login.mjs: the AppView's form (already open), the PDS's sign-in, its consent page.
async function logIn(page) {
	await page.fill('#handle', handle);
	await Promise.all([page.waitForURL((u) => !u.href.startsWith(appview)), page.click('#login')]);
	const pw = page.locator('input[type="password"]');
	await pw.waitFor();
	const user = page.locator('input[name="username"], input[autocomplete="username"]').first();
	if (await user.count() && !(await user.inputValue())) await user.fill(handle);
	await pw.fill(password);
	await page.locator('button[type="submit"]').first().click();
	const accept = page.getByRole('button', { name: /^(accept|authorize|allow)/i }).first();
	await accept.waitFor();
	await Promise.all([page.waitForURL((u) => u.href.startsWith(appview), { timeout: 30000 }), accept.click()]);
	await page.waitForLoadState();
}

// Open a helper's verification URL (logged in) and check the page names its code and device.
async function openCode(page, url, name) {
	const resp = await page.goto(url);
	const code = new URL(url).searchParams.get('code');
	ok(resp.status() === 200 && (await page.textContent('.device-code'))?.trim() === code &&
		(await page.textContent('.device-name'))?.trim() === name,
		`the verification page shows code ${code} and the device "${name}"`);
}

try {
	context = await chromium.launchPersistentContext(profile, {
		executablePath: env('CHROMIUM', '/usr/bin/chromium'),
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
		viewport: { width: 1024, height: 800 },
		timeout: 60000,
	});
	const page = context.pages()[0] ?? (await context.newPage());
	page.setDefaultTimeout(30000);

	// 1. Logged out, the verification URL leads to the login, which comes back to it.
	const approveUrl = env('APPROVE_URL'), approveCode = env('APPROVE_CODE');
	await page.goto(approveUrl);
	const at = new URL(page.url());
	ok(at.pathname === '/login' && at.searchParams.get('next') === `/device?code=${approveCode}`,
		`logged out: sent to /login with next=/device?code=${approveCode} (${page.url()})`);
	await logIn(page);
	const back = new URL(page.url());
	ok(back.pathname === '/device' && back.searchParams.get('code') === approveCode,
		`after the login the browser is back on /device?code=${approveCode}`);

	// 2. Approve the first device.
	ok((await page.textContent('.device-code'))?.trim() === approveCode &&
		(await page.textContent('.device-name'))?.trim() === env('APPROVE_NAME') &&
		(await page.textContent('.device-user'))?.trim() === handle,
		`the page shows the code, the device "${env('APPROVE_NAME')}" and who approves`);
	ok((await page.locator('form[action="/device"] input[name="csrf"]').count()) === 1, 'the form carries the CSRF token');
	await shot(page, 'approve');
	await page.click('#approve');
	await page.locator('p.notice').waitFor(); /* the answer to the POST (the form page has none) */
	ok((await page.textContent('.notice'))?.includes('approved'), 'Approve: the page says the device is approved');
	await shot(page, 'approved');

	// 3. Deny the second.
	await openCode(page, env('DENY_URL'), env('DENY_NAME'));
	await page.click('#deny');
	await page.locator('p.notice').waitFor();
	ok((await page.textContent('.notice'))?.includes('denied'), 'Deny: the page says the device is denied');
	let resp = await page.goto(env('DENY_URL'));
	const problem = (await page.textContent('.problem')) ?? '';
	ok(resp.status() === 404 && (problem.includes('already used') || problem.includes('unknown or expired')),
		'the denied code cannot be used again (already used, or gone once its helper heard the answer)');

	// 4. Codes that are not right: a malformed one, an unknown one; and the form to type one in.
	resp = await page.goto(`${appview}/device?code=hello`);
	ok(resp.status() === 400 && (await page.textContent('.problem'))?.includes('eight letters'), 'a malformed code: 400 with a problem');
	resp = await page.goto(`${appview}/device?code=ZZZZ-ZZZZ`);
	ok(resp.status() === 404 && (await page.textContent('.problem'))?.includes('unknown or expired'),
		'an unknown code: 404, "unknown or expired"');
	await page.goto(`${appview}/device`);
	const revokeUrl = env('REVOKE_URL'), revokeCode = new URL(revokeUrl).searchParams.get('code');
	await page.fill('#code', revokeCode.toLowerCase().replace('-', ' '));
	await Promise.all([page.waitForURL((u) => u.searchParams.has('code')), page.click('#continue')]);
	ok((await page.textContent('.device-code'))?.trim() === revokeCode,
		'a code typed in lower case with a blank finds the third device');
	await shot(page, 'typed');

	// 5. Approve the third, then revoke it on /settings once the helper has collected its secret.
	await page.click('#approve');
	await page.locator('p.notice').waitFor();
	const revokeName = env('REVOKE_NAME');
	const row = page.locator('table.devices tr', { has: page.locator('.device-name', { hasText: revokeName }) });
	const first = page.locator('table.devices .device-name', { hasText: env('APPROVE_NAME') });
	let listed = false;
	for (let i = 0; i < 60 && !listed; i++) { /* each helper redeems its code at its next poll */
		await page.goto(`${appview}/settings`);
		listed = (await row.count()) === 1 && (await first.count()) === 1;
		if (!listed) await sleep(1000);
	}
	ok(listed, `/settings lists the devices "${revokeName}" and "${env('APPROVE_NAME')}" once their helpers redeemed the codes`);
	ok((await page.locator('table.devices .device-name', { hasText: env('DENY_NAME') }).count()) === 0,
		'not the denied one');
	await shot(page, 'settings');
	await Promise.all([page.waitForURL((u) => u.searchParams.get('revoked') === '1'), row.locator('button.revoke-device').click()]);
	ok((await page.textContent('.notice'))?.includes('revoked') && (await row.count()) === 0,
		'Revoke: the page says so and no longer lists the device');
	await shot(page, 'revoked');
} catch (e) {
	ok(false, `browser flow: ${e.message.split('\n')[0]}`);
	diag(e.stack);
	try {
		const page = context?.pages()[0];
		if (page) {
			diag(`at ${page.url()}`);
			await page.screenshot({ path: join(out, 'device-failure.png'), fullPage: true });
		}
	} catch { /* the browser is gone */ }
} finally {
	await context?.close().catch(() => {});
	rmSync(profile, { recursive: true, force: true });
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
