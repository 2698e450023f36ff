/*
 * The results page of CAST (GET /): live figures from the GraphQL
 * subscriptions over Server-Sent Events, and a form to vote.
 *
 * Each subscription is one EventSource on GET /graphql?query=... (the
 * graphql-sse "distinct connections" mode: "next" events carry results,
 * "complete" ends a stream).  A stream that fails or ends is opened again
 * with a backoff of 0.5 s doubling to 8 s, and the page says so while it
 * is down; an UNAVAILABLE result (Redis down) is shown the same way.
 *
 * The chart is drawn only from the stream: a vote cast here shows in it
 * when the server's event says so, not when the vote's answer comes.
 */

(function () {
    'use strict';

    var ENDPOINT = '/graphql';
    var TOP = 10;
    var RATE_WINDOW = 5000;         /* ms of totals the rate is taken over */

    var el = {
        live: document.getElementById('live'),
        liveText: document.getElementById('live-text'),
        chart: document.getElementById('chart'),
        countdown: document.getElementById('countdown'),
        remaining: document.getElementById('remaining'),
        rate: document.getElementById('rate'),
        total: document.getElementById('total'),
        form: document.getElementById('vote'),
        name: document.getElementById('vote-name'),
        count: document.getElementById('vote-count'),
        submit: document.getElementById('vote-submit'),
        status: document.getElementById('vote-status')
    };

    var mine = Object.create(null);     /* names voted for from here */
    var ticketEnd = null;               /* ms, the current ticket's end */
    var totals = [];                    /* [{t, total}], oldest first */
    var lastTop = [];


    /* --- the streams ---------------------------------------------------- */

    var streams = [];

    function showState() {
        var down = null, connecting = false, i;

        for (i = 0; i < streams.length; i++) {
            if (streams[i].state === 'down') {
                down = down || streams[i].why;
            } else if (streams[i].state !== 'live') {
                connecting = true;
            }
        }

        document.body.setAttribute('data-live',
            down !== null ? 'down' : connecting ? 'connecting' : 'live');

        if (down !== null) {
            el.live.setAttribute('data-state', 'down');
            el.liveText.textContent = 'Live updates unavailable' +
                (down ? ' (' + down + ')' : '') + ', reconnecting\u2026';
        } else if (connecting) {
            el.live.setAttribute('data-state', 'connecting');
            el.liveText.textContent = 'Connecting to the live stream\u2026';
        } else {
            el.live.setAttribute('data-state', 'live');
            el.liveText.textContent = 'Live';
        }
    }

    function subscribe(query, onData) {
        var s = { state: 'connecting', why: '', es: null, delay: 500,
                  timer: null };

        function set(state, why) {
            if (s.state !== state || s.why !== why) {
                s.state = state;
                s.why = why || '';
                showState();
            }
        }

        function again() {
            if (s.es) {
                s.es.close();
                s.es = null;
            }
            clearTimeout(s.timer);
            s.timer = setTimeout(open, s.delay);
            s.delay = Math.min(s.delay * 2, 8000);
        }

        function open() {
            var es = new EventSource(ENDPOINT + '?query=' +
                                     encodeURIComponent(query));
            s.es = es;

            es.addEventListener('next', function (e) {
                var msg;

                try {
                    msg = JSON.parse(e.data);
                } catch (err) {
                    set('down', 'a bad event');
                    return;
                }

                if (msg.errors && msg.errors.length) {
                    set('down', msg.errors[0].message);
                    return;
                }

                s.delay = 500;
                set('live');
                onData(msg.data);
            });

            es.addEventListener('open', function () {
                s.delay = 500;
            });

            es.addEventListener('complete', function () {
                set('down', 'the stream ended');
                again();
            });

            es.addEventListener('error', function () {
                set('down', '');
                /* closed for good (an HTTP error): ours to open again */
                if (es.readyState === EventSource.CLOSED) {
                    again();
                }
            });
        }

        streams.push(s);
        open();
    }


    /* --- the chart ------------------------------------------------------ */

    function drawTop(top) {
        var max = 1, i, li, name, track, bar, votes, rows = [];

        lastTop = top;

        for (i = 0; i < top.length; i++) {
            max = Math.max(max, top[i].votes);
        }

        for (i = 0; i < top.length; i++) {
            li = document.createElement('li');
            li.setAttribute('data-username', top[i].username);
            if (mine[top[i].username]) {
                li.className = 'mine';
            }

            name = document.createElement('span');
            name.className = 'name';
            name.textContent = top[i].username;
            name.title = top[i].username;

            track = document.createElement('span');
            track.className = 'track';
            track.setAttribute('aria-hidden', 'true');
            bar = document.createElement('span');
            bar.className = 'bar';
            /* CSSOM, which the policy allows (no inline style attribute) */
            bar.style.width = (100 * top[i].votes / max).toFixed(2) + '%';
            track.appendChild(bar);

            votes = document.createElement('span');
            votes.className = 'votes';
            votes.textContent = String(top[i].votes);

            li.appendChild(name);
            li.appendChild(track);
            li.appendChild(votes);
            rows.push(li);
        }

        if (rows.length === 0) {
            li = document.createElement('li');
            li.className = 'empty';
            li.textContent = 'No votes yet.';
            rows.push(li);
        }

        el.chart.replaceChildren.apply(el.chart, rows);
    }


    /* --- the figures ---------------------------------------------------- */

    function drawCountdown() {
        var left;

        if (ticketEnd === null) {
            return;
        }
        left = Math.max(0, ticketEnd - Date.now());
        el.countdown.textContent = (left / 1000).toFixed(1) + ' s';
    }

    function addTotal(total) {
        var now = Date.now();

        totals.push({ t: now, total: total });
        while (totals.length > 2 && totals[1].t <= now - RATE_WINDOW) {
            totals.shift();
        }
        el.total.textContent = total.toLocaleString('en');
        drawRate();
    }

    /* votes a second over the last RATE_WINDOW (events come on change) */
    function drawRate() {
        var now = Date.now(), base, last, span;

        if (totals.length === 0) {
            return;
        }
        last = totals[totals.length - 1];
        base = totals[0];
        if (totals.length > 1 && totals[1].t <= now - RATE_WINDOW) {
            base = totals[1];
        }
        span = Math.max(1000, Math.min(RATE_WINDOW, now - base.t));
        el.rate.textContent =
            ((last.total - base.total) * 1000 / span).toFixed(1);
    }

    setInterval(function () {
        drawCountdown();
        drawRate();
    }, 100);


    /* --- voting --------------------------------------------------------- */

    function gql(query, variables) {
        return fetch(ENDPOINT, {
            method: 'POST',
            headers: {
                'Content-Type': 'application/json',
                'Accept': 'application/graphql-response+json, ' +
                          'application/json;q=0.9'
            },
            body: JSON.stringify({ query: query, variables: variables }),
            credentials: 'same-origin'
        }).then(function (res) {
            return res.json().catch(function () {
                throw new Error('HTTP ' + res.status);
            });
        });
    }

    function failure(body) {
        return body.errors && body.errors.length
            ? body.errors[0].message : null;
    }

    /* a key for this vote alone, so a retry is never counted twice */
    function freshKey() {
        var b = new Uint8Array(16), s = '', i;

        crypto.getRandomValues(b);
        for (i = 0; i < b.length; i++) {
            s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
        }
        return s;
    }

    var VOTE = 'mutation Vote($u: [String!]!, $c: [Int!], $t: String!, ' +
               '$k: String) { vote(usernames: $u, voteCount: $c, ' +
               'ticket: $t, idempotencyKey: $k) { success message ' +
               'usernames votes } }';

    function sleep(ms) {
        return new Promise(function (resolve) {
            setTimeout(resolve, ms);
        });
    }

    /* cas, then vote; a ticket that expired or ran out: the next one */
    async function castVote(name, count) {
        var key = freshKey(), tries, cas, body, why, r;

        for (tries = 0; tries < 4; tries++) {
            cas = await gql('{ cas { ticket validUntil remainingUsage } }');
            why = failure(cas);
            if (why) {
                throw new Error(why);
            }

            body = await gql(VOTE, { u: [name], c: [count],
                                     t: cas.data.cas.ticket, k: key });
            why = failure(body);
            if (why) {
                throw new Error(why);
            }

            r = body.data.vote;
            if (r.success) {
                return r;
            }
            if (!/expired|usage limit/i.test(r.message)) {
                throw new Error(r.message);
            }

            /* wait for the next ticket */
            await sleep(Math.max(50, Math.min(2100,
                Date.parse(cas.data.cas.validUntil) - Date.now() + 50)));
        }
        throw new Error(r.message);
    }

    function say(text, ok) {
        el.status.textContent = text;
        el.status.className = 'vote-status ' + (ok ? 'ok' : 'bad');
    }

    el.form.addEventListener('submit', function (e) {
        var name = el.name.value.trim();
        var count = parseInt(el.count.value, 10);

        e.preventDefault();

        if (name === '' || new TextEncoder().encode(name).length > 64) {
            say('A username is 1 to 64 bytes.', false);
            el.name.focus();
            return;
        }
        if (!(count >= 1)) {
            say('Votes: a whole number from 1.', false);
            el.count.focus();
            return;
        }

        el.submit.disabled = true;
        say('Voting\u2026', true);
        mine[name] = true;

        castVote(name, count).then(function (r) {
            say('Counted: ' + r.usernames[0] + ' has ' + r.votes[0] +
                ' vote' + (r.votes[0] === 1 ? '' : 's') + ' now.', true);
            drawTop(lastTop);
        }, function (err) {
            say('Not counted: ' + err.message, false);
        }).then(function () {
            el.submit.disabled = false;
        });
    });


    /* --- the first paint, then the subscriptions ------------------------ */

    /* what stands now, once, so the page is not empty while streams open */
    gql('{ top(limit: ' + TOP + ') { username votes } ' +
        'cas { validUntil remainingUsage } totalVotes }').then(function (b) {
        if (b.data && lastTop.length === 0) {
            drawTop(b.data.top);
            ticketEnd = Date.parse(b.data.cas.validUntil);
            el.remaining.textContent = String(b.data.cas.remainingUsage);
            addTotal(b.data.totalVotes);
        }
    }, function () {});


    subscribe('subscription { top(limit: ' + TOP + ') { username votes } }',
              function (d) { drawTop(d.top); });

    subscribe('subscription { ticket { validUntil remainingUsage } }',
              function (d) {
                  ticketEnd = Date.parse(d.ticket.validUntil);
                  el.remaining.textContent = String(d.ticket.remainingUsage);
                  drawCountdown();
              });

    subscribe('subscription { totalVotes }',
              function (d) { addTotal(d.totalVotes); });

    showState();
}());
