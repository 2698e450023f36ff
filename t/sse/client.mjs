// The graphql-sse package's own client (distinct connections mode, as a
// browser would use it) subscribes to each of CAST's subscriptions and
// prints every result it is given, one JSON line each, until stdin closes:
//
//   node client.mjs URL '["name1","name2"]'
//   {"sub":"top","result":{"data":{"top":[...]}}}
//
// A subscription that ends or fails prints {"sub":..., "complete":true}
// or {"sub":..., "error":"..."}; (t/073-sse-client.t reads them).

import { createClient } from 'graphql-sse';

const [url, namesJson] = process.argv.slice(2);
const names = JSON.parse(namesJson);

const client = createClient({ url, retryAttempts: 0 });

const subscriptions = {
  top: { query: 'subscription { top(limit: 100) { username votes } }' },
  votes: {
    query: 'subscription($u: [String!]!) { votes(usernames: $u) '
      + '{ username votes } }',
    variables: { u: names },
  },
  ticket: {
    query: 'subscription { ticket { ticket validUntil remainingUsage } }',
  },
  totalVotes: { query: 'subscription { totalVotes }' },
};

const print = (line) => process.stdout.write(JSON.stringify(line) + '\n');
const stops = [];

for (const [sub, request] of Object.entries(subscriptions)) {
  stops.push(client.subscribe(request, {
    next: (result) => print({ sub, result }),
    error: (err) => print({ sub, error: String(err && err.message || err) }),
    complete: () => print({ sub, complete: true }),
  }));
}

// the test ends the client by closing its stdin
process.stdin.resume();
process.stdin.on('end', () => {
  stops.forEach((stop) => stop());
  client.dispose();
  process.exit(0);
});
