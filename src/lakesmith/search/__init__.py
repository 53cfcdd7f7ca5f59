"""Search over the entity domain: Typesense collections ``devices`` and ``documents``
(keyword, vector and hybrid), sentence embeddings, and the indexer that keeps the index in
step with the gold/silver tables. Storage calls live in ``lakesmith.stores.search``."""
