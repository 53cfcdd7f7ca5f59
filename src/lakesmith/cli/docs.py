"""``lakesmith docs diagrams``: the Mermaid diagrams of ``docs/diagrams/``, drawn from the
code (contracts, ``Dataset`` naming, gold models, SQLModel metadata)."""

from __future__ import annotations

from pathlib import Path

import typer

from lakesmith.cli.common import console

DEFAULT_OUT = Path("docs/diagrams")
app = typer.Typer(help="Documentation generated from the code.", no_args_is_help=True)


@app.command()
def diagrams(
    out: Path = typer.Option(
        DEFAULT_OUT, "--out", file_okay=False, help="Folder of the Markdown pages."
    ),
    check: bool = typer.Option(
        False, "--check", help="Write nothing; exit 1 when the folder differs from the code."
    ),
) -> None:
    """Draw the layer (bronze, silver, gold), lake-organisation and warehouse ER diagrams
    as Mermaid in Markdown pages; --check compares instead of writing."""
    from lakesmith.core.errors import LakesmithError
    from lakesmith.docs.diagrams import render_pages, stale, write

    if out == DEFAULT_OUT and not out.parent.is_dir():
        raise LakesmithError(
            f"no {out.parent}/ folder here ({Path.cwd()})",
            hint="run it from the repository root, or pass --out DIR",
        )
    pages = render_pages()
    if check:
        differ = stale(out, pages)
        if differ:
            console.print(
                f"{out}: {len(differ)} of {len(pages)} pages differ from the code "
                f"({', '.join(differ)}); run 'lakesmith docs diagrams --out {out}'",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1)
        console.print(f"{out}: {len(pages)} pages match the code", highlight=False)
        return
    changed = write(out, pages)
    console.print(
        f"{out}: {len(changed)} of {len(pages)} pages written"
        + (f" ({', '.join(changed)})" if changed else " (all up to date)"),
        highlight=False,
        soft_wrap=True,
    )
