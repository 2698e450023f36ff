// Runs the graphql-http server audits (GraphQL over HTTP conformance)
// against $CAST_GRAPHQL_URL; prints every result and exits non-zero on
// any error or warning.
import { serverAudits } from 'graphql-http';

const url = process.env.CAST_GRAPHQL_URL;

if (!url) {
  console.error('audit: set CAST_GRAPHQL_URL');
  process.exit(2);
}

let failed = 0;
let passed = 0;

for (const audit of serverAudits({ url })) {
  const result = await audit.fn();

  if (result.status === 'ok') {
    passed++;
    console.log(`ok    ${result.id} ${result.name}`);
    continue;
  }

  failed++;
  const body = result.response ? await result.response.text() : '';
  console.log(`${result.status.padEnd(5)} ${result.id} ${result.name}: ` +
              `${result.reason} ${body}`);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
