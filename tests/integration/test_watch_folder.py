"""``lakesmith watch``: files dropped into a folder are ingested once per content — a file
written slowly is read once it is complete, the same content dropped twice is ingested
once, a restarted watcher does not ingest again, unmapped files are recorded, not read."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lakesmith.config import Settings
from lakesmith.contracts.loader import load_contract_file
from lakesmith.pipeline.ingest import dataset_name, stored_contract_path
from lakesmith.pipeline.watch import Outcome, Watcher, load_dataset_map, register_handler
from lakesmith.stores import ledger
from lakesmith.stores.postgres import connect
from lakesmith.testing.pipeline import read_sinks

pytestmark = pytest.mark.integration


def _rows(start: int, n: int) -> bytes:
    return b"".join(b"%d,item_%d,%d.25\n" % (i, i, i) for i in range(start, start + n))


@pytest.fixture
def drop(tmp_path: Path) -> tuple[Path, Path, str]:
    folder = tmp_path / "drop"
    folder.mkdir()
    dataset = f"drops.t_{uuid.uuid4().hex[:8]}"
    mapping = tmp_path / "map.yaml"
    mapping.write_text(yaml.safe_dump({"datasets": [{"match": "*.csv", "dataset": dataset}]}))
    return folder, mapping, dataset


class Running:
    """A watcher in a thread, stopped (and joined) by ``stop``."""

    def __init__(self, settings: Settings, folder: Path, mapping: Path, **kw: object) -> None:
        self.outcomes: list[Outcome] = []
        self.watcher = Watcher(
            settings, folder, load_dataset_map(mapping), settle_s=1.0, rescan_s=0.5,
            on_outcome=self.outcomes.append, **kw,  # type: ignore[arg-type]
        )  # fmt: skip
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.watcher.run, args=(self._stop,))
        self._thread.start()

    def wait_for(self, n: int, timeout: float = 90.0) -> list[Outcome]:
        deadline = time.monotonic() + timeout
        while len(self.outcomes) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.outcomes) >= n, self.outcomes
        return self.outcomes

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.watcher.close()


@pytest.fixture
def running(stack_settings: Settings) -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for r in started:
        r.stop()


def _silver_count(settings: Settings, dataset: str) -> int:
    contract = load_contract_file(stored_contract_path(settings, dataset_name(dataset)))
    return read_sinks(settings, contract).silver.height


def test_a_slowly_written_file_is_ingested_once_complete(
    stack_settings: Settings, drop: tuple[Path, Path, str], running: list[Running]
) -> None:
    folder, mapping, dataset = drop
    w = Running(stack_settings, folder, mapping)
    running.append(w)
    path = folder / "orders_1.csv"
    with path.open("wb") as out:  # 6 pieces, 0.4 s apart: never settled for 1 s meanwhile
        out.write(b"id,name,price\n")
        for k in range(6):
            out.write(_rows(k * 100, 100))
            out.flush()
            time.sleep(0.4)
    [outcome] = w.wait_for(1)
    assert outcome.status == "done" and outcome.records == 600
    time.sleep(1.5)  # nothing else happens
    assert len(w.outcomes) == 1
    assert _silver_count(stack_settings, dataset) == 600


def test_same_content_twice_and_a_restart_ingest_once(
    stack_settings: Settings, drop: tuple[Path, Path, str], running: list[Running]
) -> None:
    folder, mapping, dataset = drop
    (folder / "a.csv").write_bytes(b"id,name,price\n" + _rows(0, 50))
    first = Running(stack_settings, folder, mapping)
    running.append(first)
    assert [o.status for o in first.wait_for(1)] == ["done"]
    # the same bytes under another name (and a newer modified time): skipped
    time.sleep(0.05)
    shutil.copy(folder / "a.csv", folder / "a_copy.csv")
    (folder / "b.csv").write_bytes(b"id,name,price,extra\n" + _rows(50, 20).replace(b"\n", b",x\n"))
    outcomes = first.wait_for(3)
    by_name = {o.path.name: o for o in outcomes}
    assert by_name["a_copy.csv"].status == "skipped"
    assert by_name["b.csv"].status == "done" and by_name["b.csv"].records == 20
    first.stop()
    running.remove(first)
    # a restarted watcher lists the folder again: every content is in the ledger
    again = Running(stack_settings, folder, mapping)
    running.append(again)
    assert {o.status for o in again.wait_for(3)} == {"skipped"}
    assert _silver_count(stack_settings, dataset) == 70
    # b.csv brought a column: the dataset's contract grew a version
    contract = load_contract_file(stored_contract_path(stack_settings, dataset_name(dataset)))
    assert contract.field("extra").since == 2


def test_partial_names_wait_for_the_rename_and_unmapped_files_are_recorded(
    stack_settings: Settings, drop: tuple[Path, Path, str], running: list[Running], tmp_path: Path
) -> None:
    folder, mapping, _ = drop
    done = tmp_path / "done"
    w = Running(stack_settings, folder, mapping, move_done=done)
    running.append(w)
    (folder / "report.pdf").write_bytes(b"%PDF-1.4 not really")
    partial = folder / "late.csv.part"
    partial.write_bytes(b"id,name,price\n" + _rows(0, 10))
    [pdf] = w.wait_for(1)
    assert pdf.status == "no_handler" and "no handler for .pdf" in pdf.detail
    time.sleep(1.5)
    assert len(w.outcomes) == 1  # the .part file is never read
    partial.rename(folder / "late.csv")
    outcomes = w.wait_for(2)
    assert outcomes[1].status == "done" and outcomes[1].records == 10
    assert (done / "late.csv").exists() and not (folder / "late.csv").exists()
    assert (folder / "report.pdf").exists()  # unmapped files stay
    with connect(stack_settings) as conn:
        statuses = {e.path.rsplit("/", 1)[-1]: e.status for e in ledger.entries(conn)}
    assert statuses["report.pdf"] == "no_handler" and statuses["late.csv"] == "done"


def test_a_registered_handler_takes_unmapped_files(
    stack_settings: Settings, drop: tuple[Path, Path, str], running: list[Running]
) -> None:
    folder, mapping, _ = drop
    seen: list[Path] = []

    def handle(path: Path, settings: Settings) -> str:
        seen.append(path)
        return "indexed 1 document"

    register_handler(".docx", handle)
    w = Running(stack_settings, folder, mapping)
    running.append(w)
    (folder / "contract.docx").write_bytes(uuid.uuid4().bytes)
    [o] = w.wait_for(1)
    assert o.status == "handled" and o.detail == "indexed 1 document"
    assert seen == [folder.absolute() / "contract.docx"]


@pytest.mark.slow
def test_a_watcher_killed_mid_file_finishes_it_after_a_restart(
    stack_settings: Settings, drop: tuple[Path, Path, str]
) -> None:
    import subprocess

    from lakesmith.pipeline.worker import FAULT_ENV
    from lakesmith.testing.files import lakesmith_cmd, write_csv
    from lakesmith.testing.stack import worker_env

    folder, mapping, dataset = drop
    mapping.write_text(yaml.safe_dump({"datasets": [{"match": "*.csv", "dataset": dataset}]}))
    rows = write_csv(folder / "big.csv", 6 * 1024 * 1024)
    cmd = lakesmith_cmd(
        "--log-level", "WARNING", "watch", str(folder), "--dataset-map", str(mapping),
        "--settle", "0.5", "--once", "--memory-limit", "530MiB",
    )  # fmt: skip
    env = worker_env(stack_settings)
    killed = subprocess.run(cmd, env={**env, FAULT_ENV: "silver:1"}, capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    with connect(stack_settings) as conn:
        assert [e.status for e in ledger.entries(conn) if e.dataset == dataset] == ["started"]
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "big.csv:" in again.stdout and "into " + dataset in again.stdout
    with connect(stack_settings) as conn:
        assert [e.status for e in ledger.entries(conn) if e.dataset == dataset] == ["done"]
    contract = load_contract_file(stored_contract_path(stack_settings, dataset))
    silver = read_sinks(stack_settings, contract).silver
    assert silver.height == silver["id"].n_unique() == rows
