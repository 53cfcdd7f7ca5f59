"""The diagrams in docs/diagrams/ are what `lakesmith docs diagrams` draws from the code,
and the Mermaid they hold is structurally sane."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakesmith.cli import app
from lakesmith.docs import er
from lakesmith.docs.diagrams import render_pages, stale

DIAGRAMS = Path(__file__).resolve().parents[2] / "docs" / "diagrams"
FENCE = re.compile(r"```mermaid\n(.*?)```", re.S)


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return render_pages()


def test_committed_diagrams_match_the_code(pages: dict[str, str]) -> None:
    differ = stale(DIAGRAMS, pages)
    assert not differ, (
        f"docs/diagrams is out of date ({', '.join(differ)}): run 'lakesmith docs diagrams'"
    )


def test_rendering_is_deterministic(pages: dict[str, str]) -> None:
    assert render_pages() == pages
    text = "\n".join(pages.values())
    assert "/tmp" not in text and "lakesmith-docs-" not in text  # no machine paths


def test_check_reports_a_changed_page(tmp_path: Path, pages: dict[str, str]) -> None:
    runner = CliRunner()
    out = tmp_path / "d"
    written = runner.invoke(app, ["docs", "diagrams", "--out", str(out)])
    assert written.exit_code == 0, written.output
    assert sorted(p.name for p in out.iterdir()) == sorted(pages)
    assert runner.invoke(app, ["docs", "diagrams", "--out", str(out), "--check"]).exit_code == 0
    (out / "silver.md").write_text("edited by hand\n")
    (out / "gold.md").unlink()
    checked = runner.invoke(app, ["docs", "diagrams", "--out", str(out), "--check"])
    assert checked.exit_code == 1
    assert "2 of 6 pages differ" in checked.output
    assert "silver.md" in checked.output and "gold.md" in checked.output
    assert (out / "silver.md").read_text() == "edited by hand\n"  # --check writes nothing


def _er_blocks(page: str) -> list[str]:
    blocks = FENCE.findall(page)
    return [b for b in blocks if b.startswith("erDiagram")]


ENTITY = re.compile(r"^\s{4}([A-Za-z_][A-Za-z0-9_]*) \{$", re.M)
RELATION = re.compile(r'^\s{4}(\w+) (\|\||\|o)--o\{ (\w+) : "[^"]+"$', re.M)
ATTRIBUTE = re.compile(r'^\s{8}[a-z]+ [a-z_][a-z0-9_]*( PK| FK| PK, FK)?( "[^"]*")?$')


def test_every_relationship_names_two_defined_entities(pages: dict[str, str]) -> None:
    blocks = _er_blocks(pages["warehouse.md"])
    assert len(blocks) >= 3  # entities, music, sales
    for body in blocks:
        entities = set(ENTITY.findall(body))
        relation_lines = [ln for ln in body.splitlines() if "--o{" in ln]
        assert relation_lines, body[:200]
        for line in relation_lines:
            m = RELATION.match(line)
            assert m, f"malformed relationship: {line!r}"
            parent, _, child = m.groups()
            assert parent in entities and child in entities, line
        # every entity block is closed and holds only well-formed attributes
        inside = False
        for line in body.splitlines()[1:]:
            if ENTITY.match(line):
                assert not inside, line
                inside = True
            elif line.strip() == "}":
                assert inside
                inside = False
            elif inside:
                assert ATTRIBUTE.match(line), f"malformed attribute: {line!r}"
        assert not inside


def test_every_flowchart_edge_joins_declared_nodes(pages: dict[str, str]) -> None:
    node = re.compile(r"^\s*(?:subgraph )?([A-Za-z_]\w*)(?:\[|\(|\[\[|\[\()")
    edge = re.compile(r"^\s*([A-Za-z_]\w*) (?:-->|-\.->)(?:\|[^|]*\|)? ([A-Za-z_]\w*)$")
    for name in ("bronze.md", "silver.md", "gold.md", "lake.md"):
        for body in FENCE.findall(pages[name]):
            assert body.startswith("flowchart ")
            lines = body.splitlines()[1:]
            declared = {m.group(1) for ln in lines if (m := node.match(ln))}
            edges = [ln for ln in lines if "-->" in ln or "-.->" in ln]
            assert edges, name
            for line in edges:
                m = edge.match(line)
                assert m, f"{name}: malformed edge {line!r}"
                assert m.group(1) in declared and m.group(2) in declared, f"{name}: {line}"
            opened = sum(1 for ln in lines if ln.strip().startswith("subgraph "))
            assert opened == sum(1 for ln in lines if ln.strip() == "end"), name


def test_pages_show_what_the_code_declares(pages: dict[str, str]) -> None:
    # bronze: the envelope columns; silver: the split tables and keys; gold: every model
    assert "`_record_id`" in pages["bronze.md"] and "`_rule_ids`" in pages["bronze.md"]
    assert "silver.music_events_listen_events" in pages["silver.md"]
    assert "keys: device_id, timestamp" in pages["silver.md"]
    assert "pressure: double since v2" in pages["silver.md"]
    assert "timeseries.iot_telemetry" in pages["silver.md"]
    for model in ("music", "entities", "sales"):
        assert f"## Schema `{model}`" in pages["warehouse.md"]
        assert f'subgraph gold_{model}["{model}' in pages["gold.md"]
    assert "sales_enriched" in pages["gold.md"]  # the lake-only batch model
    assert "s3://lakesmith-lake/warehouse/silver/" in pages["lake.md"]
    assert "s3://lakesmith-lake/warehouse/silver.db/" in pages["lake.md"]  # Glue: Hive style
    assert "stream_positions" in pages["lake.md"]


def test_key_naming_rule_finds_role_playing_dimensions() -> None:
    import sqlalchemy as sa

    md = sa.MetaData()
    dim_date = sa.Table("dim_date", md, sa.Column("date_key", sa.BigInteger, primary_key=True))
    sa.Table("dim_site", md, sa.Column("site_key", sa.BigInteger, primary_key=True))
    fact = sa.Table(
        "fact_x",
        md,
        sa.Column("x_key", sa.Text, primary_key=True),
        sa.Column("opened_date_key", sa.BigInteger, nullable=False),
        sa.Column("site_key", sa.BigInteger, nullable=True),
        sa.Column("other_key", sa.BigInteger),  # names no table: no relationship
        sa.Column("d", sa.BigInteger, sa.ForeignKey("dim_date.date_key")),
    )
    rels = {
        (r.parent, r.column, r.nullable, r.declared)
        for r in er.relationships([*md.tables.values()])
    }
    assert rels == {
        ("dim_date", "opened_date_key", False, False),
        ("dim_site", "site_key", True, False),
        ("dim_date", "d", True, True),
    }
    assert fact is not None and dim_date is not None


def test_labels_escape_what_mermaid_would_read_as_syntax() -> None:
    from lakesmith.docs.mermaid import label, node_id

    hostile = 'a "quoted" <script>x</script> & [brackets] (parens) |pipe| end'
    text = label(hostile, "<b>not bold</b>")
    assert text.startswith('"') and text.endswith('"') and text.count('"') == 2
    assert "<script>" not in text and "<b>not bold</b>" not in text
    assert "&lt;script&gt;" in text and "#quot;quoted#quot;" in text and "&amp;" in text
    assert node_id("silver.a-b c", "x/y") == "silver_a_b_c_x_y"


def test_default_folder_needs_the_repository_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakesmith.cli import main

    monkeypatch.chdir(tmp_path)  # no docs/ here: one clear error, nothing written
    monkeypatch.setattr("sys.argv", ["lakesmith", "docs", "diagrams"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert not (tmp_path / "docs").exists()
