"""The real datasheets of ../shared/data/external/pdf (skipped when absent), read with the
``pdf`` payload decoder's parser, indexed like generated ones: searching for what a
datasheet is about finds it — by keyword over every page, and by meaning (vector) over
the first pages (embedding every page of these PDFs takes minutes on this machine)."""

from __future__ import annotations

import uuid
from pathlib import Path

import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.formats.pdf import parse_pdf
from lakesmith.search.documents import page_documents
from lakesmith.search.indexing import SearchIndexer
from lakesmith.search.types import SearchQuery

pytestmark = [pytest.mark.integration, pytest.mark.external_data]


def pages(folder: Path, first_only: bool) -> pl.DataFrame:
    rows = []
    for path in sorted(folder.glob("*.pdf")):
        doc = parse_pdf(path.read_bytes())
        for number, text in enumerate(doc.page_texts, 1):
            if first_only and number > 1:
                break
            rows.append(
                {"doc_id": path.stem, "page": number, "text": text, "doc_type": "datasheet",
                 "title": doc.info.get("title") or path.stem}
            )  # fmt: skip
    return pl.DataFrame(rows)


def indexer(settings: Settings, embeddings: bool) -> SearchIndexer:
    config = settings.search.model_copy(
        update={"collection_prefix": f"t{uuid.uuid4().hex[:8]}_", "embeddings": embeddings}
    )
    return SearchIndexer(settings.model_copy(update={"search": config}))


def test_searching_what_a_real_datasheet_is_about_finds_it(
    stack_settings: Settings, external_data: Path
) -> None:
    folder = external_data / "pdf"
    if not any(folder.glob("MQ-5.pdf")) or not any(folder.glob("LM386.pdf")):
        pytest.skip("MQ-5.pdf / LM386.pdf not in the external folder")
    keyword = indexer(stack_settings, embeddings=False)
    vector = indexer(stack_settings, embeddings=True)
    try:
        every = page_documents(pages(folder, False), keyword.settings.search.chunk_words)
        keyword.sync("documents", every)
        for q, doc in [("gas sensor", "MQ-5"), ("low voltage audio power amplifier", "LM386")]:
            hits = keyword.repo.search(SearchQuery(q=q, mode="keyword")).hits
            assert hits and hits[0].doc_id == doc, (q, [h.doc_id for h in hits[:3]])

        first = page_documents(pages(folder, True), vector.settings.search.chunk_words)
        vector.sync("documents", first)
        for q, doc in [
            ("detects flammable gas leaks such as LPG and methane", "MQ-5"),
            ("chip that drives a loudspeaker", "LM386"),
        ]:
            hits = vector.repo.search(SearchQuery(q=q, mode="vector")).hits
            assert hits[0].doc_id == doc, (q, [h.doc_id for h in hits[:3]])
    finally:
        keyword.repo.drop()
        vector.repo.drop()
