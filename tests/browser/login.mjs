// login.mjs - the web login in a real browser: Debian's chromium driven by playwright-core opens the
// AppView's /login, enters the handle, signs in on the reference PDS's own sign-in page, accepts its
// consent page, comes back logged in (the AppView shows the handle), stars and unstars repository REPO
// (its record checked in the user's PDS), searches with the header's box, opens the multi-arch tag's
// index, changes the default hold on /settings (refused for a malformed or unresolvable DID; the profile
// record checked in the PDS), pushes with skopeo and sees the push land on the new hold, downloads and
// then deletes the user's data on that hold (io.atcr.hold.exportUserData / deleteUserData), takes a
// screenshot of every page at desktop and phone width, then logs out with the page's form (a POST with
// the CSRF token). Screenshots go to OUT_DIR. TAP output.
// Env: APPVIEW_URL (http://127.0.0.1:PORT: the loopback client redirects to 127.0.0.1), HANDLE, PASSWORD,
// DID, PDS_URL, REPO (pushed by login.sh: app, with tags 1.0 and multi), HOLD_DID (the registry's
// default hold), HOLD2_DID (another hold, open to new crew), REGISTRY, APP_PASSWORD, IMAGES (OCI
// layouts from tests/images/make-images), OUT_DIR, PEERS_DIR (the node tree holding playwright-core),
// CHROMIUM (/usr/bin/chromium).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = (k, d) => process.env[k] ?? d;
const appview = env('APPVIEW_URL'), handle = env('HANDLE'), password = env('PASSWORD'), did = env('DID');
const out = env('OUT_DIR', 'tests/out');
const pdsUrl = env('PDS_URL'), repo = env('REPO', 'app');
const hold1 = env('HOLD_DID'), hold2 = env('HOLD2_DID');
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

mkdirSync(out, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'atcr-chromium-'));
let context;
let step = 0;
async function shot(page, name) {
	step++;
	await page.screenshot({ path: join(out, `login-${String(step).padStart(2, '0')}-${name}.png`), fullPage: true });
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

	// 1. The AppView's login form, coming back to /login afterwards.
	let resp = await page.goto(`${appview}/login?next=/login`);
	ok(resp && resp.status() === 200, `GET /login (HTTP ${resp && resp.status()})`);
	await shot(page, 'appview-form');
	const csrfCookie = (await context.cookies(appview)).find((c) => c.name === 'atcr_csrf');
	ok(csrfCookie && csrfCookie.httpOnly && csrfCookie.sameSite === 'Lax', 'the CSRF cookie is HttpOnly, SameSite=Lax');
	await page.fill('#handle', handle);
	await Promise.all([page.waitForURL((u) => !u.href.startsWith(appview)), page.click('#login')]);
	const pds = new URL(page.url());
	ok(pds.pathname.endsWith('/oauth/authorize') && pds.searchParams.get('request_uri'),
		`redirected to the PDS's authorize page (${pds.origin}${pds.pathname})`);

	// 2. The PDS's own sign-in page (the handle is pre-filled from login_hint).
	const pw = page.locator('input[type="password"]');
	await pw.waitFor();
	await shot(page, 'pds-sign-in');
	const user = page.locator('input[name="username"], input[autocomplete="username"]').first();
	if (await user.count() && !(await user.inputValue())) await user.fill(handle);
	await pw.fill(password);
	await page.locator('button[type="submit"]').first().click();

	// 3. Its consent page: accept.
	const accept = page.getByRole('button', { name: /^(accept|authorize|allow)/i }).first();
	await accept.waitFor();
	await shot(page, 'pds-consent');
	ok(await accept.isVisible(), 'signed in on the PDS; its consent page asks');
	await Promise.all([page.waitForURL((u) => u.href.startsWith(appview), { timeout: 30000 }), accept.click()]);
	await page.waitForLoadState();

	// 4. Back on the AppView, logged in.
	ok(new URL(page.url()).pathname === '/login', `back on the AppView at the page the login started from (${page.url()})`);
	await shot(page, 'appview-logged-in');
	const body = await page.textContent('body');
	ok(body.includes(`@${handle}`), `the AppView shows the handle @${handle}`);
	ok(body.includes(did), 'and the DID');
	const session = (await context.cookies(appview)).find((c) => c.name === 'atcr_session');
	ok(session && session.httpOnly && session.sameSite === 'Lax' && !session.secure && session.value.length === 43,
		'the session cookie: 256-bit value, HttpOnly, SameSite=Lax (no Secure over http)');
	ok(!(await page.evaluate(() => document.cookie)).includes('atcr_session'), 'scripts cannot read it');

	// A cross-site-style POST without the token is refused while logged in.
	const forged = await page.evaluate(async () => {
		const r = await fetch('/auth/logout', { method: 'POST', body: new URLSearchParams({ csrf: 'x'.repeat(43) }) });
		return r.status;
	});
	ok(forged === 403, `logout with a wrong CSRF token is refused (HTTP ${forged})`);

	// Every page's header shows who is logged in, with a logout form.
	await page.goto(`${appview}/`);
	ok((await page.textContent('header .account .who'))?.trim() === handle, 'the home page header shows the handle');
	ok((await page.locator('header form.account input[name="csrf"]').count()) === 1, 'with a logout form carrying the CSRF token');

	// Star and unstar a repository the suite pushed, with the page's own form (POST with the CSRF token).
	const repoUrl = `${appview}/r/${handle}/${repo}`;
	const starRecords = async () => {
		const u = `${pdsUrl}/xrpc/com.atproto.repo.listRecords?repo=${encodeURIComponent(did)}&collection=io.atcr.sailor.star`;
		const r = await fetch(u);
		return r.ok ? (await r.json()).records : null;
	};
	resp = await page.goto(repoUrl);
	ok(resp.status() === 200 && (await page.textContent('.stars')).includes('0 stars') &&
		(await page.locator('#star').textContent()).includes('Star') && !(await page.textContent('body')).includes('starred'),
		'the repository page offers a Star button, 0 stars');
	await Promise.all([page.waitForURL(repoUrl), page.click('#star')]);
	await shot(page, 'starred');
	ok((await page.textContent('.stars')).includes('★ 1 star'), 'after Star the page counts 1 star');
	ok((await page.textContent('.starred'))?.includes('starred') && (await page.locator('#star').textContent()).trim() === 'Unstar',
		'and says "starred", with an Unstar button');
	let records = await starRecords();
	ok(records && records.length === 1 && records[0].value.subject === `at://${did}/io.atcr.repo.page/${repo}` &&
		records[0].value.subject.endsWith(`/io.atcr.repo.page/${repo}`) && records[0].value.$type === 'io.atcr.sailor.star' &&
		!Number.isNaN(Date.parse(records[0].value.createdAt)),
		`the star record is in the user's PDS (${records && records.map((r) => r.uri).join(' ')})`);
	await Promise.all([page.waitForURL(repoUrl), page.click('#star')]);
	await shot(page, 'unstarred');
	ok((await page.textContent('.stars')).includes('0 stars') && (await page.locator('#star').textContent()).includes('Star') &&
		(await page.locator('.starred').count()) === 0, 'after Unstar the page counts 0 stars and offers Star again');
	records = await starRecords();
	ok(records && records.length === 0, 'the star record is gone from the PDS');

	// Search from the header's box, then open the result.
	await page.goto(`${appview}/`);
	await page.fill('header input[name="q"]', repo);
	await Promise.all([page.waitForURL((u) => u.pathname === '/search'), page.press('header input[name="q"]', 'Enter')]);
	const hit = page.locator(`.results a[href="/r/${handle}/${repo}"]`).first();
	ok(new URL(page.url()).searchParams.get('q') === repo && (await hit.count()) === 1,
		`the header's search for "${repo}" lists ${handle}/${repo}`);
	await shot(page, 'search');
	await Promise.all([page.waitForURL(repoUrl), hit.click()]);
	ok(true, 'the result opens the repository page');

	// The multi-arch tag: its index lists a manifest per platform.
	const multiRow = page.locator('table.tags tr', { has: page.locator('td.tag', { hasText: 'multi' }) });
	ok((await multiRow.locator('.platform').allTextContents()).join(' ').includes('linux/arm64'),
		'the multi-arch tag shows its platforms on the repository page');
	await Promise.all([page.waitForURL((u) => u.pathname.includes('/manifests/')), multiRow.locator('a[href*="/manifests/"]').click()]);
	const platforms = (await page.locator('section.platforms .platform').allTextContents()).join(' ');
	ok(platforms.includes('linux/amd64') && platforms.includes('linux/arm64'), `the index page lists its platforms (${platforms})`);
	const indexUrl = page.url();
	await shot(page, 'multiarch-index');

	// Settings: the default hold.
	const settingsUrl = `${appview}/settings`;
	resp = await page.goto(settingsUrl);
	ok(resp.status() === 200 && (await page.textContent('.current-hold')) === hold1,
		'settings: no default hold chosen yet, so the registry\'s hold is in use');
	const holdRow = (did) => page.locator('table.holds tr', { has: page.locator('code', { hasText: did }) });
	const row1 = (await holdRow(hold1).textContent()).replace(/\s+/g, ' ');
	ok(/captain/.test(row1) && /public/.test(row1) && /\d+(\.\d+)? (B|KB|MB) in \d+ blobs?/.test(row1) && /in use/.test(row1),
		`settings: the registry's hold with the user's role and storage (${row1.trim()})`);
	await shot(page, 'settings');
	const save = async (value) => {
		await page.fill('#default_hold', value);
		const [r] = await Promise.all([page.waitForNavigation(), page.click('#save-hold')]);
		return r;
	};
	resp = await save('not-a-did');
	ok(resp.status() === 400 && (await page.textContent('.problem')).includes('DID'), `a malformed DID is refused (HTTP ${resp.status()})`);
	resp = await save('did:web:localhost%3A1');
	ok(resp.status() === 400 && (await page.textContent('.problem')).includes('does not resolve'),
		`a hold that does not resolve is refused (HTTP ${resp.status()})`);
	const rowAfter = (await holdRow(hold1).textContent()).replace(/\s+/g, ' ');
	ok(/public/.test(rowAfter) && !/does not resolve/.test(rowAfter), `the page's problem stays out of the hold rows (${rowAfter.trim()})`);
	const profileRecord = async () => {
		const r = await fetch(`${pdsUrl}/xrpc/com.atproto.repo.getRecord?repo=${encodeURIComponent(did)}&collection=io.atcr.sailor.profile&rkey=self`);
		return r.ok ? (await r.json()).value : null;
	};
	ok((await profileRecord()) === null, 'neither wrote a profile record');
	resp = await save(`  ${hold2} `);
	ok(new URL(page.url()).search === '?saved=1' && (await page.textContent('.notice')).includes('Saved') &&
		(await page.textContent('.current-hold')) === hold2, 'the second hold is saved as the default hold');
	await shot(page, 'settings-saved');
	const prof = await profileRecord();
	ok(prof && prof.defaultHold === hold2 && prof.$type === 'io.atcr.sailor.profile' && !Number.isNaN(Date.parse(prof.createdAt)),
		`the profile record in the PDS names it (${JSON.stringify(prof)})`);

	// The next push lands there, even of layers the repository already keeps on the first hold.
	try {
		execFileSync('skopeo', ['copy', '-q', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds',
			`${handle}:${env('APP_PASSWORD')}`, `oci:${env('IMAGES')}/busybox:latest`,
			`docker://${env('REGISTRY')}/${handle}/${repo}:moved`], { timeout: 300000, stdio: ['ignore', 'ignore', 'pipe'] });
		ok(true, `skopeo pushes ${repo}:moved (the image of ${repo}:1.0)`);
	} catch (e) {
		ok(false, `skopeo pushes ${repo}:moved: ${e.stderr}`);
	}
	const manifests = await (await fetch(`${pdsUrl}/xrpc/com.atproto.repo.listRecords?repo=${encodeURIComponent(did)}&collection=io.atcr.manifest&limit=100`)).json();
	const holds = manifests.records.filter((r) => r.value.repository === repo).map((r) => r.value.holdDid);
	ok(holds.filter((h) => h === hold2).length === 1, `a new manifest record names the new hold (${holds.join(' ')})`);
	await page.goto(repoUrl);
	const movedRow = page.locator('table.tags tr', { has: page.locator('td.tag', { hasText: 'moved' }) });
	await Promise.all([page.waitForURL((u) => u.pathname.includes('/manifests/')), movedRow.locator('a[href*="/manifests/"]').click()]);
	ok((await page.textContent('dl.facts')).includes(hold2), 'and its manifest page shows that hold');
	await page.goto(settingsUrl);
	const row2 = (await holdRow(hold2).textContent()).replace(/\s+/g, ' ');
	ok(/in use/.test(row2) && /blob:write/.test(row2) && /\d+(\.\d+)? (B|KB|MB) in [1-9]\d* blobs?/.test(row2),
		`settings: the new hold in use, the user now its crew, storing the push (${row2.trim()})`);

	// Pull commands in the client the user prefers (the profile's ociClient).
	await page.selectOption('#oci_client', 'podman');
	await Promise.all([page.waitForNavigation(), page.click('#save-client')]);
	ok((await profileRecord())?.ociClient === 'podman' && (await profileRecord())?.defaultHold === hold2,
		'choosing podman for pull commands writes ociClient and keeps defaultHold');
	await page.goto(repoUrl);
	const pulls = await page.locator('.pull code, td.pullcmd code').allTextContents();
	ok(pulls.length > 1 && pulls.every((p) => p.startsWith('podman pull ')), `the repository page shows podman pull commands (${pulls[0]})`);
	await page.goto(settingsUrl);
	await page.selectOption('#oci_client', 'none');
	await Promise.all([page.waitForNavigation(), page.click('#save-client')]);
	await page.goto(repoUrl);
	ok((await page.locator('.pull code').textContent()).startsWith(env('REGISTRY')), 'with "none" just the reference');
	const odd = await page.evaluate(async () => {
		const csrf = document.querySelector('header input[name="csrf"]').value;
		const r = await fetch('/settings', { method: 'POST', body: new URLSearchParams({ csrf, oci_client: 'curl|sh' }) });
		return r.status;
	});
	ok(odd === 400, `a client outside the known ones is refused (HTTP ${odd})`);
	await page.goto(settingsUrl);
	await page.selectOption('#oci_client', 'docker');
	await Promise.all([page.waitForNavigation(), page.click('#save-client')]);

	// The user's data on the new hold: a JSON download, then deleted (only once the box is ticked).
	await page.goto(settingsUrl);
	await holdRow(hold2).locator('details.hold-data summary').click();
	const [download] = await Promise.all([page.waitForEvent('download'), holdRow(hold2).locator('button.export-data').click()]);
	let exported = {};
	try {
		exported = JSON.parse(readFileSync(await download.path(), 'utf8'));
	} catch (e) {
		diag(`the download is not JSON: ${e}`);
	}
	// login.sh's second hold belongs to someone else; the demo's to the demo account (its captain).
	const captain = exported.isCaptain === true;
	ok(exported.userDid === did && exported.holdDid === hold2 && (captain || exported.crewRecord?.role) &&
		exported.layerRecords?.length > 0 && Array.isArray(exported.statsRecords) && Array.isArray(exported.blueskyPosts),
		`the export of the new hold is the user's (${exported.layerRecords?.length} layer records, ${exported.statsRecords?.length} stats, as ${download.suggestedFilename()})`);
	await Promise.all([page.waitForNavigation(), holdRow(hold2).locator('button.delete-data').click()]);
	ok(/Tick the box/.test((await page.textContent('.problem')) ?? ''), 'deleting it without ticking the box is refused');
	await holdRow(hold2).locator('details.hold-data summary').click();
	await holdRow(hold2).locator('input[name="confirm"]').check();
	await Promise.all([page.waitForNavigation(), holdRow(hold2).locator('button.delete-data').click()]);
	const deleted = (await page.textContent('.notice')) ?? '';
	const says = captain ? /^Deleted from .*: [1-9]\d* layer records?, \d+ stats records?\.$/
		: /^Deleted from .*: [1-9]\d* layer records?, \d+ stats records? and your crew membership\.$/;
	ok(says.test(deleted.trim()), `then deleted (${captain ? 'the captain keeps their crew record' : 'crew record too'}): ${deleted.trim()}`);
	const rowDeleted = await holdRow(hold2).textContent();
	ok(captain ? /captain/.test(rowDeleted) : /not a member/.test(rowDeleted),
		`and the settings page shows ${captain ? 'the captain still' : 'no crew membership there now'}`);

	// Every page at desktop and phone width.
	const pages = [['home', '/'], ['repository', `/r/${handle}/${repo}`], ['manifest', new URL(indexUrl).pathname],
		['user', `/u/${handle}`], ['search', `/search?q=${repo}`], ['settings', '/settings'], ['login', '/login'],
		['not-found', '/r/nobody/nothing']];
	const wrong = [], sideways = [];
	for (const [width, height, label] of [[1280, 900, 'desktop'], [390, 844, 'phone']]) {
		await page.setViewportSize({ width, height });
		for (const [name, path] of pages) {
			resp = await page.goto(`${appview}${path}`);
			await page.screenshot({ path: join(out, `page-${name}-${label}.png`), fullPage: true });
			if (resp.status() !== (name === 'not-found' ? 404 : 200)) wrong.push(`${name}: HTTP ${resp.status()}`);
			if (await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1)) sideways.push(`${name} (${label})`);
		}
	}
	ok(wrong.length === 0, `screenshots of ${pages.length} pages at desktop and phone width in ${out} ${wrong.join(', ')}`);
	ok(sideways.length === 0, `no page scrolls sideways ${sideways.join(', ')}`);
	await page.setViewportSize({ width: 1024, height: 800 });

	await page.goto(`${appview}/login`);

	// 5. Log out with the page's own form (POST with the session's CSRF token).
	await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/auth/')), page.click('#logout')]);
	await shot(page, 'appview-logged-out');
	ok(!(await context.cookies(appview)).some((c) => c.name === 'atcr_session' && c.value),
		'logout cleared the session cookie');
	resp = await page.goto(`${appview}/login`);
	const after = await page.textContent('body');
	ok(resp.status() === 200 && !after.includes(`@${handle}`) && (await page.locator('#handle').count()) === 1,
		'after logout /login shows the form again');
	await shot(page, 'appview-login-again');
} catch (e) {
	ok(false, `browser flow: ${e.message.split('\n')[0]}`);
	diag(e.stack);
	try {
		const page = context?.pages()[0];
		if (page) {
			diag(`at ${page.url()}`);
			await page.screenshot({ path: join(out, 'login-failure.png'), fullPage: true });
		}
	} catch { /* the browser is gone */ }
} finally {
	await context?.close().catch(() => {});
	rmSync(profile, { recursive: true, force: true });
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
