/*
 * The CAST schema, written once in SDL, and the built-in types of the
 * GraphQL specification (scalars, introspection, directives), also in
 * SDL.  cast_gql_schema_init() reads both into the schema model that
 * validation, execution and introspection use.
 */

#include "cast_gql.h"


static const char  cast_gql_sdl[] =
    "\"\"\"Reads vote counts and the current ticket.\"\"\"\n"
    "type Query {\n"
    "  \"The current vote count of a username.\"\n"
    "  query(username: String!): Int!\n"
    "  \"The ticket that votes must present now.\"\n"
    "  cas: TicketInfo!\n"
    "}\n"
    "\n"
    "\"\"\"Casts votes.\"\"\"\n"
    "type Mutation {\n"
    "  \"Adds votes to one or more usernames, spending one ticket use.\"\n"
    "  vote(\n"
    "    \"The usernames to vote for.\"\n"
    "    usernames: [String!]!\n"
    "    \"Votes per username, in the order of usernames; 1 each when "
    "absent.\"\n"
    "    voteCount: [Int!]\n"
    "    \"The current ticket, as returned by cas.\"\n"
    "    ticket: String!\n"
    "    \"The username of the voter, recorded with the vote.\"\n"
    "    voterUsername: String\n"
    "    \"A client key that makes a retried vote count once.\"\n"
    "    idempotencyKey: String\n"
    "  ): VoteResult!\n"
    "}\n"
    "\n"
    "\"\"\"A voting ticket and how long and how often it can be used.\"\"\"\n"
    "type TicketInfo {\n"
    "  \"The ticket to pass to vote.\"\n"
    "  ticket: String!\n"
    "  \"When the ticket stops being accepted.\"\n"
    "  validUntil: String!\n"
    "  \"How many more votes the ticket accepts.\"\n"
    "  remainingUsage: Int!\n"
    "}\n"
    "\n"
    "\"\"\"The outcome of a vote.\"\"\"\n"
    "type VoteResult {\n"
    "  \"Whether the votes were counted.\"\n"
    "  success: Boolean!\n"
    "  \"A human-readable outcome.\"\n"
    "  message: String!\n"
    "  \"The usernames voted for.\"\n"
    "  usernames: [String!]!\n"
    "  \"The vote count of each username after the vote.\"\n"
    "  votes: [Int!]!\n"
    "}\n";


/* the specification's built-ins, used by the CAST schema or always */
static const char  cast_gql_builtin_sdl[] =
    "\"The `String` scalar type represents textual data, represented as "
    "UTF-8 character sequences.\"\n"
    "scalar String\n"
    "\"The `Int` scalar type represents non-fractional signed whole numeric "
    "values between -(2^31) and 2^31 - 1.\"\n"
    "scalar Int\n"
    "\"The `Boolean` scalar type represents `true` or `false`.\"\n"
    "scalar Boolean\n"
    "\"A GraphQL Schema defines the capabilities of a GraphQL server: its "
    "types, directives and root operation types.\"\n"
    "type __Schema {\n"
    "  description: String\n"
    "  \"A list of all types supported by this server.\"\n"
    "  types: [__Type!]!\n"
    "  \"The type that query operations will be rooted at.\"\n"
    "  queryType: __Type!\n"
    "  \"The type that mutation operations will be rooted at.\"\n"
    "  mutationType: __Type\n"
    "  \"The type that subscription operations will be rooted at.\"\n"
    "  subscriptionType: __Type\n"
    "  \"A list of all directives supported by this server.\"\n"
    "  directives: [__Directive!]!\n"
    "}\n"
    "\"The fundamental unit of any GraphQL Schema is the type.\"\n"
    "type __Type {\n"
    "  kind: __TypeKind!\n"
    "  name: String\n"
    "  description: String\n"
    "  specifiedByURL: String\n"
    "  fields(includeDeprecated: Boolean = false): [__Field!]\n"
    "  interfaces: [__Type!]\n"
    "  possibleTypes: [__Type!]\n"
    "  enumValues(includeDeprecated: Boolean = false): [__EnumValue!]\n"
    "  inputFields(includeDeprecated: Boolean = false): [__InputValue!]\n"
    "  ofType: __Type\n"
    "  isOneOf: Boolean\n"
    "}\n"
    "\"An enum describing what kind of type a given `__Type` is.\"\n"
    "enum __TypeKind {\n"
    "  \"Indicates this type is a scalar.\" SCALAR\n"
    "  \"Indicates this type is an object.\" OBJECT\n"
    "  \"Indicates this type is an interface.\" INTERFACE\n"
    "  \"Indicates this type is a union.\" UNION\n"
    "  \"Indicates this type is an enum.\" ENUM\n"
    "  \"Indicates this type is an input object.\" INPUT_OBJECT\n"
    "  \"Indicates this type is a list.\" LIST\n"
    "  \"Indicates this type is a non-null.\" NON_NULL\n"
    "}\n"
    "\"Object and Interface types are described by a list of Fields.\"\n"
    "type __Field {\n"
    "  name: String!\n"
    "  description: String\n"
    "  args(includeDeprecated: Boolean = false): [__InputValue!]!\n"
    "  type: __Type!\n"
    "  isDeprecated: Boolean!\n"
    "  deprecationReason: String\n"
    "}\n"
    "\"Arguments provided to Fields or Directives and the input fields of "
    "an InputObject.\"\n"
    "type __InputValue {\n"
    "  name: String!\n"
    "  description: String\n"
    "  type: __Type!\n"
    "  \"A GraphQL-formatted string of the default value, if any.\"\n"
    "  defaultValue: String\n"
    "  isDeprecated: Boolean!\n"
    "  deprecationReason: String\n"
    "}\n"
    "\"One possible value for a given Enum.\"\n"
    "type __EnumValue {\n"
    "  name: String!\n"
    "  description: String\n"
    "  isDeprecated: Boolean!\n"
    "  deprecationReason: String\n"
    "}\n"
    "\"A Directive provides a way to describe alternate runtime execution "
    "and type validation behavior in a GraphQL document.\"\n"
    "type __Directive {\n"
    "  name: String!\n"
    "  description: String\n"
    "  isRepeatable: Boolean!\n"
    "  locations: [__DirectiveLocation!]!\n"
    "  args(includeDeprecated: Boolean = false): [__InputValue!]!\n"
    "}\n"
    "\"A Directive can be adjacent to many parts of the GraphQL language.\"\n"
    "enum __DirectiveLocation {\n"
    "  QUERY MUTATION SUBSCRIPTION FIELD FRAGMENT_DEFINITION\n"
    "  FRAGMENT_SPREAD INLINE_FRAGMENT VARIABLE_DEFINITION SCHEMA SCALAR\n"
    "  OBJECT FIELD_DEFINITION ARGUMENT_DEFINITION INTERFACE UNION ENUM\n"
    "  ENUM_VALUE INPUT_OBJECT INPUT_FIELD_DEFINITION\n"
    "}\n"
    "\"Directs the executor to include this field or fragment only when "
    "the `if` argument is true.\"\n"
    "directive @include(\"Included when true.\" if: Boolean!)\n"
    "  on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
    "\"Directs the executor to skip this field or fragment when the `if` "
    "argument is true.\"\n"
    "directive @skip(\"Skipped when true.\" if: Boolean!)\n"
    "  on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
    "\"Marks an element of a GraphQL schema as no longer supported.\"\n"
    "directive @deprecated(\n"
    "  \"Explains why this element was deprecated.\"\n"
    "  reason: String = \"No longer supported\"\n"
    ") on FIELD_DEFINITION | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION"
    " | ENUM_VALUE\n"
    "\"Exposes a URL that specifies the behavior of this scalar.\"\n"
    "directive @specifiedBy(\"The URL that specifies the behavior of this "
    "scalar.\" url: String!) on SCALAR\n"
    "\"The meta-fields; kept out of the list of types.\"\n"
    "type __Meta {\n"
    "  \"The name of the current object type.\"\n"
    "  __typename: String!\n"
    "  \"Access the current type schema of this server.\"\n"
    "  __schema: __Schema!\n"
    "  \"Request the type information of a single type.\"\n"
    "  __type(name: String!): __Type\n"
    "}\n";


cast_str_t
cast_gql_schema_sdl(void)
{
    cast_str_t  s;

    s.data = cast_gql_sdl;
    s.len = sizeof(cast_gql_sdl) - 1;

    return s;
}


cast_str_t
cast_gql_builtin_sdl_text(void)
{
    cast_str_t  s;

    s.data = cast_gql_builtin_sdl;
    s.len = sizeof(cast_gql_builtin_sdl) - 1;

    return s;
}
