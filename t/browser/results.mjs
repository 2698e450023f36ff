// The results page as a person uses it (t/082-browser-results.t):
//
//   node t/browser/results.mjs http://127.0.0.1:PORT scripts/stack.sh
//
// opens BASE/ at desktop width, waits until its streams are live and the
// chart is drawn, votes from the form for a name in the chart and waits
// for the chart to show the new count (reporting how long it took from
// the click); then takes the browser offline and restarts the stack's
// nginx, which ends every stream: the page must say it is unavailable,
// and once online again come back live by itself; then the page at phone
// width.  Prints JSON.

import { execFileSync } from 'node:child_process';
import { run, watchedPage, cspViolations, screenshot, DESKTOP, PHONE }
    from './browser.mjs';

const base = process.argv[2];
const stackSh = process.argv[3];        // scripts/stack.sh of the stack
const COUNT = 3;

function rows(page) {
    return page.$$eval('#chart li[data-username]', (lis) => lis.map((li) => ({
        username: li.getAttribute('data-username'),
        votes: Number(li.querySelector('.votes').textContent),
        width: li.querySelector('.bar').style.width
    })));
}

await run(async (browser, result) => {
    const { page, problems } = await watchedPage(browser, DESKTOP);

    const res = await page.goto(`${base}/`, { waitUntil: 'load' });
    result.status = res.status();
    result.headers = res.headers();
    result.title = await page.title();

    await page.waitForSelector('#live[data-state="live"]').catch(async (e) => {
        result.liveText = await page.$eval('#live', (el) => el.innerText);
        await screenshot(page, 'results-not-live');
        throw e;
    });
    await page.waitForFunction(() =>
        document.querySelector('#remaining').textContent !== '\u2013'
        && document.querySelector('#total').textContent !== '\u2013');
    result.before = await rows(page);

    // a name the chart shows whatever the vote does: its leader, or a
    // new one while the chart has room
    const name = result.before.length >= 10
        ? result.before[0].username
        : `browser-${Date.now().toString(36)}`;
    const had = (result.before.find((r) => r.username === name) || {}).votes
        || 0;
    result.name = name;
    result.had = had;

    await page.type('#vote-name', name);
    await page.$eval('#vote-count', (el) => { el.value = ''; });
    await page.type('#vote-count', String(COUNT));
    const clicked = Date.now();
    await page.click('#vote-submit');

    await page.waitForFunction((n, want) => {
        const li = [...document.querySelectorAll('#chart li[data-username]')]
            .find((l) => l.getAttribute('data-username') === n);
        return li && Number(li.querySelector('.votes').textContent) >= want;
    }, { timeout: 15000 }, name, had + COUNT);
    result.chartMs = Date.now() - clicked;

    await page.waitForFunction(() =>
        /^Counted/.test(document.querySelector('#vote-status').textContent));
    result.voteStatus = await page.$eval('#vote-status', (el) => el.innerText);
    result.after = await rows(page);
    result.mineClass = await page.$eval(
        `#chart li[data-username="${name.replace(/"/g, '\\"')}"]`,
        (li) => li.className);
    result.figures = await page.$$eval('.stats dd', (dds) =>
        dds.map((d) => d.innerText));
    result.liveText = await page.$eval('#live', (el) => el.innerText);
    await screenshot(page, 'results-desktop');

    // the streams end (nginx restarted) and cannot be opened again (the
    // browser offline): the page says so; online again, it reconnects by
    // itself and is live
    const before = problems.length;
    await page.setOfflineMode(true);
    execFileSync(stackSh, ['restart', 'nginx'], { stdio: 'ignore' });
    await page.waitForSelector('#live[data-state="down"]');
    result.downText = await page.$eval('#live', (el) => el.innerText);
    await screenshot(page, 'results-down');
    await page.setOfflineMode(false);
    await page.waitForSelector('#live[data-state="live"]', { timeout: 30000 });
    result.backText = await page.$eval('#live', (el) => el.innerText);
    // what failed while offline failed on purpose
    result.offlineProblems = problems.splice(before);

    result.csp = await cspViolations(page);
    result.problems = problems.slice();

    // a phone
    const phone = await watchedPage(browser, PHONE);
    await phone.page.goto(`${base}/`, { waitUntil: 'load' });
    await phone.page.waitForSelector('#live[data-state="live"]');
    await phone.page.waitForSelector('#chart li[data-username]');
    result.phoneOverflow = await phone.page.evaluate(() =>
        document.documentElement.scrollWidth - window.innerWidth);
    result.phoneFont = await phone.page.$eval('body', (b) =>
        getComputedStyle(b).fontSize);
    await screenshot(phone.page, 'results-phone');
    result.phoneCsp = await cspViolations(phone.page);
    result.phoneProblems = phone.problems.slice();
});
