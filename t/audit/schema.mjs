// Fetches the full introspection result from $CAST_GRAPHQL_URL, loads it
// with graphql-js buildClientSchema and prints the schema; exits non-zero
// when the result does not load or the schema is invalid.
import {
  buildClientSchema, getIntrospectionQuery, printSchema, validateSchema,
} from 'graphql';

const url = process.env.CAST_GRAPHQL_URL;

if (!url) {
  console.error('schema: set CAST_GRAPHQL_URL');
  process.exit(2);
}

const query = getIntrospectionQuery({
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
});

const res = await fetch(url, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json',
  },
  body: JSON.stringify({ query }),
});
const result = await res.json();

if (res.status !== 200 || result.errors) {
  console.error(`schema: HTTP ${res.status}`, JSON.stringify(result));
  process.exit(1);
}

const schema = buildClientSchema(result.data);
const errors = validateSchema(schema);

console.log(printSchema(schema));

for (const name of ['Query', 'Mutation', 'TicketInfo', 'VoteResult']) {
  if (!schema.getType(name)) {
    errors.push(new Error(`type ${name} is missing`));
  }
}

for (const e of errors) {
  console.error(`schema: ${e.message}`);
}

process.exit(errors.length ? 1 : 0);
