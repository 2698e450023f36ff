// What the browser tests share: Debian's chromium, headless, driven over
// the DevTools protocol by puppeteer-core (t/browser/package.json; no
// browser is downloaded), and a page that records what went wrong in it.
//
// Each script prints one JSON object on its last line of stdout, read by
// its t/08x-*.t file, which makes the assertions.

import puppeteer from 'puppeteer-core';
import fs from 'node:fs';
import path from 'node:path';

export const CHROMIUM = process.env.CAST_CHROMIUM || '/usr/bin/chromium';

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = {
    width: 390, height: 844, deviceScaleFactor: 2, isMobile: true,
    hasTouch: true
};


export async function launch() {
    return puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        // root in a container has no user namespace sandbox; the pages
        // are our own, served on loopback
        args: ['--no-sandbox', '--disable-dev-shm-usage', '--no-first-run',
               '--disable-gpu', '--disable-extensions',
               '--font-render-hinting=none'],
        protocolTimeout: 60000
    });
}


// A page whose console errors, uncaught exceptions, failed requests and
// Content-Security-Policy violations are collected in `problems`.
export async function watchedPage(browser, viewport) {
    const page = await browser.newPage();
    const problems = [];

    await page.setViewport(viewport);
    page.setDefaultTimeout(20000);

    page.on('console', (msg) => {
        if (msg.type() === 'error'
            || /Content.Security.Policy/i.test(msg.text())) {
            problems.push(`console ${msg.type()}: ${msg.text()}`);
        }
    });
    page.on('pageerror', (err) => problems.push(`exception: ${err.message}`));
    page.on('requestfailed', (req) => {
        // a stream the page closes on purpose is no failure
        if (!/ERR_ABORTED/.test(req.failure()?.errorText || '')) {
            problems.push(`request failed: ${req.url()} ` +
                          `${req.failure()?.errorText}`);
        }
    });
    page.on('response', (res) => {
        if (res.status() >= 400) {
            problems.push(`HTTP ${res.status()}: ${res.url()}`);
        }
    });

    // the browser reports each violation to the document as an event
    await page.evaluateOnNewDocument(() => {
        window.__cspViolations = [];
        document.addEventListener('securitypolicyviolation', (e) => {
            window.__cspViolations.push(
                `${e.violatedDirective} blocked ${e.blockedURI || 'inline'}` +
                ` (${e.sourceFile || ''}:${e.lineNumber || 0})`);
        });
    });

    return { page, problems };
}


export async function cspViolations(page) {
    return page.evaluate(() => window.__cspViolations || []);
}


export async function screenshot(page, name) {
    const dir = process.env.CAST_SCREENSHOTS
        || path.resolve('t/var/screenshots');

    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${name}.png`);
    await page.screenshot({ path: file, fullPage: false });
    return file;
}


// Runs main(result), then prints result as JSON; an exception is recorded
// as result.error, so the .t file shows it.
export async function run(main) {
    const result = {};
    let browser;

    try {
        browser = await launch();
        await main(browser, result);
    } catch (e) {
        result.error = String(e && e.stack || e);
    } finally {
        if (browser) {
            await browser.close().catch(() => {});
        }
    }
    process.stdout.write(JSON.stringify(result) + '\n');
}
