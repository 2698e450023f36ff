// The GraphiQL page as a person uses it (t/081-browser-graphiql.t):
//
//   node t/browser/graphiql.mjs http://127.0.0.1:PORT
//
// opens BASE/graphql as chromium does (its own Accept header), waits for
// the schema to load through introspection (the documentation explorer
// lists the root types), types a query into the editor, runs it and reads
// the result pane, then a subscription (its SSE events); then the page at
// phone width, where the result goes below the editor.  Prints JSON.

import { run, watchedPage, cspViolations, screenshot, DESKTOP, PHONE }
    from './browser.mjs';

const base = process.argv[2];
const QUERY = '{ cas { remainingUsage validUntil } __typename }';

async function editorText(page, selector) {
    return page.$eval(selector, (el) => {
        const cm = el.querySelector('.CodeMirror');
        return cm && cm.CodeMirror ? cm.CodeMirror.getValue() : el.innerText;
    });
}

await run(async (browser, result) => {
    const { page, problems } = await watchedPage(browser, DESKTOP);

    const res = await page.goto(`${base}/graphql`, { waitUntil: 'load' });
    result.status = res.status();
    result.headers = res.headers();
    result.requestAccept = res.request().headers().accept || '';
    result.title = await page.title();

    await page.waitForSelector('.graphiql-container');
    await page.waitForSelector('.graphiql-query-editor .CodeMirror');

    // the schema, from introspection: the docs list Query and Mutation
    await page.click('button[aria-label="Show Documentation Explorer"]');
    await page.waitForFunction(() => {
        const d = document.querySelector('.graphiql-doc-explorer');
        return d && /\bQuery\b/.test(d.innerText)
               && /\bMutation\b/.test(d.innerText);
    });
    result.docs = await page.$eval('.graphiql-doc-explorer',
                                   (el) => el.innerText);
    await screenshot(page, 'graphiql-docs-desktop');

    // type a query as a person does: select all, type over it
    await page.click('.graphiql-query-editor .CodeMirror-lines');
    await page.keyboard.down('Control');
    await page.keyboard.press('a');
    await page.keyboard.up('Control');
    await page.keyboard.press('Backspace');
    await page.keyboard.type(QUERY, { delay: 5 });
    result.typed = await editorText(page, '.graphiql-query-editor');

    // the completion list typing opened, closed; the editor has taken the
    // new text (the tab is named after its operation: none now), then run
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => {
        const t = document.querySelector('.graphiql-tab-active');
        return t && /untitled/.test(t.innerText);
    });
    await page.click('.graphiql-execute-button');
    await page.waitForFunction(() => {
        const cm = document.querySelector('.graphiql-response .CodeMirror');
        return cm && /remainingUsage/.test(cm.CodeMirror.getValue());
    }).catch(async (e) => {
        await screenshot(page, 'graphiql-failed');
        throw e;
    });
    result.response = await editorText(page, '.graphiql-response');
    await screenshot(page, 'graphiql-desktop');

    // a subscription: its events over SSE, shown as they come
    await page.click('.graphiql-query-editor .CodeMirror-lines');
    await page.keyboard.down('Control');
    await page.keyboard.press('a');
    await page.keyboard.up('Control');
    await page.keyboard.press('Backspace');
    await page.keyboard.type('subscription { totalVotes }', { delay: 5 });
    await page.keyboard.press('Escape');
    await page.click('.graphiql-execute-button');
    await page.waitForFunction(() => {
        const cm = document.querySelector('.graphiql-response .CodeMirror');
        return cm && /"totalVotes":\s*\d+/.test(cm.CodeMirror.getValue());
    }).catch(async (e) => {
        await screenshot(page, 'graphiql-failed');
        throw e;
    });
    result.subscription = await editorText(page, '.graphiql-response');
    await screenshot(page, 'graphiql-subscription');
    // stopped: the stream is closed by the page
    await page.click('.graphiql-execute-button');

    result.csp = await cspViolations(page);
    result.problems = problems.slice();

    // a phone
    const phone = await watchedPage(browser, PHONE);
    await phone.page.goto(`${base}/graphql`, { waitUntil: 'load' });
    await phone.page.waitForSelector('.graphiql-query-editor .CodeMirror');
    // what the desktop left in the editor (the same origin's storage), run:
    // the result shows below the editor
    await phone.page.click('.graphiql-execute-button');
    await phone.page.waitForFunction(() => {
        const cm = document.querySelector('.graphiql-response .CodeMirror');
        return cm && /"data"/.test(cm.CodeMirror.getValue());
    });
    result.phoneLayout = await phone.page.evaluate(() => {
        const e = document.querySelector('.graphiql-editors')
            .getBoundingClientRect();
        const r = document.querySelector('.graphiql-response')
            .getBoundingClientRect();
        return { editorBottom: e.bottom, responseTop: r.top,
                 responseWidth: r.width, width: window.innerWidth };
    });
    await screenshot(phone.page, 'graphiql-phone');
    result.phoneCsp = await cspViolations(phone.page);
    result.phoneProblems = phone.problems.slice();
});
