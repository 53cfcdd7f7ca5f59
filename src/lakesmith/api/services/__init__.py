"""Use cases of the REST API (and of the GraphQL schema: both call these)."""
