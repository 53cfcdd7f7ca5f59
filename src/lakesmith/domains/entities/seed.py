"""Seed the entity-search domain end to end: generate the fleet, ingest every file into
bronze/silver/quarantine through the same path as ``lakesmith ingest`` (the file source,
the worker, the dataset's sinks), then rebuild the gold star schema (``gold.batch``).

``seed(settings, seed=7, devices=200)`` is the one entry point the API's seeding job
calls. It is safe to run again: files already generated for the same parameters are
reused as they are (same path, size and time: their records are committed, nothing is
ingested twice), and gold is rebuilt from whatever silver holds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lakesmith.domains.entities.generator import FILES, EntitiesConfig

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.gold.batch import RebuildReport

Progress = Callable[[str, float], None]
CONTRACTS = Path(__file__).parent
CONTRACT_FILES = {
    "entities.models": "models.yaml",
    "entities.sites": "sites.yaml",
    "entities.devices": "devices.yaml",
    "entities.firmware": "firmware.yaml",
    "entities.maintenance": "maintenance.yaml",
    "entities.documents": "documents.yaml",
}
ORDER = tuple(CONTRACT_FILES)
_MARKER = ".generated.json"


@dataclass
class SeedReport:
    out_dir: Path
    generated: bool  # False: the files of an earlier run were reused
    files: dict[str, int] = field(default_factory=dict)  # dataset → files
    ingested: dict[str, dict[str, int]] = field(default_factory=dict)  # dataset → dispositions
    gold: RebuildReport | None = None
    indexed: dict[str, int] = field(default_factory=dict)  # search collection → documents
    seconds: float = 0.0

    def summary(self) -> dict[str, object]:
        """A JSON-friendly summary (the API job's result)."""
        return {
            "out_dir": str(self.out_dir),
            "generated": self.generated,
            "files": self.files,
            "ingested": self.ingested,
            "gold": self.gold.rows if self.gold is not None else {},
            "indexed": self.indexed,
            "seconds": round(self.seconds, 2),
        }


def generate(cfg: EntitiesConfig, out: Path, workers: int | None = None) -> dict[str, int]:
    """Write the fleet's files under ``out`` (unless the same ``cfg`` already did);
    returns dataset → number of files."""
    from lakesmith.domains.entities.documents import write_documents
    from lakesmith.domains.entities.generator import make_fleet, write_structured

    fleet = make_fleet(cfg)
    write_structured(fleet, out)
    docs = sum(1 for _ in write_documents(fleet, cfg, out / FILES["entities.documents"], workers))
    return {**{k: 1 for k in FILES if k != "entities.documents"}, "entities.documents": docs}


def _signature(cfg: EntitiesConfig) -> str:
    return json.dumps(
        {"seed": cfg.seed, "devices": cfg.devices, "models": cfg.models, "sites": cfg.sites,
         "reports": cfg.n_reports, "tickets_per_device": cfg.tickets_per_device,
         "as_of": cfg.as_of.isoformat()},
        sort_keys=True,
    )  # fmt: skip


def ingest_dataset(settings: Settings, dataset: str, target: Path) -> dict[str, int]:
    """Ingest ``target`` into ``dataset`` with its shipped contract, like ``lakesmith
    ingest TARGET --dataset DATASET``; returns the rows per disposition."""
    from lakesmith.pipeline.ingest import ingest, prepare

    job = prepare(settings, str(target), dataset, contract_path=CONTRACTS / CONTRACT_FILES[dataset])
    result = ingest(settings, job)
    return {k: int(v) for k, v in result.stats.by_disposition.items()}


def seed(
    settings: Settings,
    *,
    seed: int = 7,
    devices: int = 200,
    out_dir: Path | None = None,
    progress: Progress | None = None,
    reports: int | None = None,
    index: bool = True,
) -> SeedReport:
    """Generate (or reuse), ingest every file into bronze and silver, rebuild gold and
    (``index``) bring the search index in step with it (``lakesmith search index``)."""
    from lakesmith.domains.entities.gold import MODEL
    from lakesmith.gold.batch import rebuild

    t0 = time.monotonic()
    say = progress or (lambda _stage, _fraction: None)
    cfg = EntitiesConfig(seed=seed, devices=devices, reports=reports)
    out = out_dir or Path(settings.state_dir) / "entities" / f"seed-{seed}-{devices}"
    marker = out / _MARKER
    reuse = marker.exists() and marker.read_text() == _signature(cfg)
    report = SeedReport(out, generated=not reuse)
    say("generate", 0.0)
    if reuse:
        report.files = {k: 1 for k in FILES}
        report.files["entities.documents"] = len(list((out / "pdf").glob("*.pdf")))
    else:
        marker.unlink(missing_ok=True)
        report.files = generate(cfg, out)
        marker.write_text(_signature(cfg))
    for i, dataset in enumerate(ORDER):
        say(f"ingest {dataset}", 0.2 + 0.6 * i / len(ORDER))
        report.ingested[dataset] = ingest_dataset(settings, dataset, out / FILES[dataset])
    say("gold", 0.8)
    report.gold = rebuild(settings, MODEL)
    if index:
        from lakesmith.search.sources import index_entities

        say("search index", 0.9)
        report.indexed = {r.collection: r.documents for r in index_entities(settings)}
    report.seconds = time.monotonic() - t0
    say("done", 1.0)
    return report
