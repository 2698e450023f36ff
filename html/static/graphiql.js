/*
 * The GraphiQL page of CAST (a browser's GET /graphql): mounts the GraphiQL
 * IDE of html/static/vendor/ (React and GraphiQL standalone builds, pinned
 * in web/package.json) on #graphiql.  An external same-origin file: the
 * page's Content-Security-Policy allows no inline script.
 *
 * Queries and mutations are POSTed as JSON.  A subscription is POSTed with
 * Accept: text/event-stream and read as Server-Sent Events (the graphql-sse
 * "distinct connections" mode: "next" events carry results, "complete"
 * ends the stream), yielded to GraphiQL as they come.
 */

(function () {
    'use strict';

    var root = document.getElementById('graphiql');
    var endpoint = root.getAttribute('data-endpoint') || '/graphql';

    var sample = [
        '# CAST: votes over GraphQL.',
        '# Ctrl-Enter runs; Docs: the schema.',
        '',
        'query Ticket {',
        '  cas {',
        '    ticket',
        '    validUntil',
        '    remainingUsage',
        '  }',
        '}',
        ''
    ].join('\n');

    /* the operation's kind, from the text: comments and strings skipped */
    function operationKind(query, name) {
        var text = String(query || '')
            .replace(/"""[\s\S]*?"""/g, '""')
            .replace(/"(?:[^"\\\n]|\\.)*"/g, '""')
            .replace(/#[^\n\r]*/g, '');
        var re = new RegExp('(^|[{}\\s])(query|mutation|subscription)\\b' +
                            '\\s*([_A-Za-z][_0-9A-Za-z]*)?', 'g');
        var m, first = null;

        while ((m = re.exec(text)) !== null) {
            if (first === null) {
                first = m[2];
            }
            if (name && m[3] === name) {
                return m[2];
            }
        }
        return first || 'query';
    }

    function request(params, accept, signal) {
        return fetch(endpoint, {
            method: 'POST',
            headers: {
                'Content-Type': 'application/json',
                'Accept': accept
            },
            body: JSON.stringify(params),
            credentials: 'same-origin',
            signal: signal
        });
    }

    /* one result of a query or mutation */
    async function single(params) {
        var res = await request(params,
            'application/graphql-response+json, application/json;q=0.9');
        var text = await res.text();

        try {
            return JSON.parse(text);
        } catch (e) {
            return { errors: [{ message: 'HTTP ' + res.status + ': ' +
                                         text.slice(0, 500) }] };
        }
    }

    /* the events of a subscription, until "complete" or the end */
    async function* stream(params) {
        var ctl = new AbortController();
        var res, reader, decoder, buf, cut, block, ev, data, lines, i;

        try {
            res = await request(params, 'text/event-stream', ctl.signal);
            if (!res.ok || !/^text\/event-stream/.test(
                    res.headers.get('Content-Type') || '')) {
                yield await res.json().catch(function () {
                    return { errors: [{ message: 'HTTP ' + res.status }] };
                });
                return;
            }

            reader = res.body.getReader();
            decoder = new TextDecoder();
            buf = '';

            for (;;) {
                var chunk = await reader.read();
                if (chunk.done) {
                    return;
                }
                buf += decoder.decode(chunk.value, { stream: true })
                              .replace(/\r\n?/g, '\n');

                while ((cut = buf.indexOf('\n\n')) >= 0) {
                    block = buf.slice(0, cut);
                    buf = buf.slice(cut + 2);
                    ev = 'message';
                    data = [];
                    lines = block.split('\n');
                    for (i = 0; i < lines.length; i++) {
                        if (lines[i].indexOf('event:') === 0) {
                            ev = lines[i].slice(6).trim();
                        } else if (lines[i].indexOf('data:') === 0) {
                            data.push(lines[i].slice(5).replace(/^ /, ''));
                        }
                    }
                    if (ev === 'complete') {
                        return;
                    }
                    if (ev === 'next' && data.length) {
                        yield JSON.parse(data.join('\n'));
                    }
                }
            }
        } finally {
            ctl.abort();
        }
    }

    function fetcher(params) {
        if (operationKind(params.query, params.operationName)
            === 'subscription')
        {
            return stream(params);
        }
        return single(params);
    }

    /* /graphql?query=... opens with that query in the editor */
    var url = new URLSearchParams(window.location.search);

    root.textContent = '';
    ReactDOM.createRoot(root).render(
        React.createElement(GraphiQL, {
            fetcher: fetcher,
            defaultQuery: sample,
            query: url.get('query') || undefined,
            variables: url.get('variables') || undefined,
            isHeadersEditorEnabled: false
        })
    );
}());
