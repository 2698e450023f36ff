/*
 * The standard full introspection query of GraphQL tools (graphql-js
 * getIntrospectionQuery() with descriptions, specifiedByURL,
 * isRepeatable, the schema description and input value deprecation):
 * the answer every output budget must leave room for.
 */

#ifndef _TEST_INTROSPECTION_H_INCLUDED_
#define _TEST_INTROSPECTION_H_INCLUDED_


#define TEST_INTROSPECTION_QUERY                                             \
    "query IntrospectionQuery {\n"                                           \
    "  __schema {\n"                                                         \
    "    description\n"                                                      \
    "    queryType { name kind }\n"                                          \
    "    mutationType { name kind }\n"                                       \
    "    subscriptionType { name kind }\n"                                   \
    "    types { ...FullType }\n"                                            \
    "    directives {\n"                                                     \
    "      name description isRepeatable locations\n"                        \
    "      args(includeDeprecated: true) { ...InputValue }\n"                \
    "    }\n"                                                                \
    "  }\n"                                                                  \
    "}\n"                                                                    \
    "fragment FullType on __Type {\n"                                        \
    "  kind name description specifiedByURL\n"                               \
    "  fields(includeDeprecated: true) {\n"                                  \
    "    name description\n"                                                 \
    "    args(includeDeprecated: true) { ...InputValue }\n"                  \
    "    type { ...TypeRef }\n"                                              \
    "    isDeprecated deprecationReason\n"                                   \
    "  }\n"                                                                  \
    "  inputFields(includeDeprecated: true) { ...InputValue }\n"             \
    "  interfaces { ...TypeRef }\n"                                          \
    "  enumValues(includeDeprecated: true) {\n"                              \
    "    name description isDeprecated deprecationReason\n"                  \
    "  }\n"                                                                  \
    "  possibleTypes { ...TypeRef }\n"                                       \
    "}\n"                                                                    \
    "fragment InputValue on __InputValue {\n"                                \
    "  name description type { ...TypeRef } defaultValue\n"                  \
    "  isDeprecated deprecationReason\n"                                     \
    "}\n"                                                                    \
    "fragment TypeRef on __Type {\n"                                         \
    "  kind name ofType { kind name ofType { kind name ofType {\n"           \
    "  kind name ofType { kind name ofType { kind name ofType {\n"           \
    "  kind name ofType { kind name ofType { kind name ofType {\n"           \
    "  kind name } } } } } } } } }\n"                                        \
    "}\n"


#endif /* _TEST_INTROSPECTION_H_INCLUDED_ */
