"""Documentation generated from the code, so it cannot drift from it.

``inventory.py`` collects what the lake holds — every built-in dataset's tables (named by
``pipeline.dataset.Dataset``), the gold models' tables and the warehouse schemas — from the
contracts, the domain and gold registries and the SQLModel metadata; ``diagrams.py`` and
``er.py`` draw it as Mermaid diagrams (``lakesmith docs diagrams`` writes them into
``docs/diagrams/``; a unit test fails when the committed files differ).
"""
