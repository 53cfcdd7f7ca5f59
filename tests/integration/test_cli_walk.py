"""Every ``lakesmith`` command as a user runs it, in a fresh process: with the stack up,
with each service down, with a misspelt config variable and from another folder.

What is asserted everywhere: the exit code, no traceback, and an error a person can read
(at most three lines besides the JSON logs). The cases of one fixture run in parallel
(each process spends most of its time importing), so the file stays well under a minute.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import typer
import yaml

from lakesmith import cli
from lakesmith.config import Settings
from lakesmith.contracts import Contract
from lakesmith.core.records import RawBatch
from lakesmith.pipeline.dataset import Dataset
from lakesmith.stores import dq as dq_store
from lakesmith.stores.meta import ensure_meta_schema
from lakesmith.stores.postgres import connect
from lakesmith.testing import free_ports, worker_env
from lakesmith.testing.pipeline import unique_contract
from lakesmith.testing.sink_suite import process_into, reading

pytestmark = pytest.mark.integration

TIMEOUT_S = 45
# The processes share a bytecode cache (this environment may disable writing it): without
# it each one compiles every module it imports, seconds of CPU each.
PYCACHE = Path(tempfile.gettempdir()) / f"lakesmith-test-pycache-{os.getuid()}"
GOOD, BAD = 30, 6  # records of the walk's dataset: valid ones and out-of-range temperatures

# Every command path; test_every_command_is_walked keeps it complete.
COMMANDS: list[list[str]] = [
    [],
    ["run"],
    ["run", "sales"],
    ["produce"],
    ["backfill"],
    ["compact"],
    ["reset-positions"],
    ["ingest"],
    ["watch"],
    ["profile"],
    ["local"],
    ["local", "up"],
    ["local", "down"],
    ["local", "status"],
    ["local", "logs"],
    ["simulate"],
    ["simulate", "iot"],
    ["simulate", "music"],
    ["simulate", "entities"],
    ["ship"],
    ["ship", "music"],
    ["reprocess"],
    ["dq"],
    ["dq", "report"],
    ["quarantine"],
    ["quarantine", "show"],
    ["quarantine", "replay"],
    ["schema"],
    ["schema", "history"],
    ["demo"],
    ["demo", "iot"],
    ["demo", "music"],
    ["demo", "entities"],
    ["demo", "helpdesk"],
    ["demo", "sales"],
    ["simulate", "sales"],
    ["simulate", "shop"],
    ["schedule"],
    ["jobs"],
    ["jobs", "run"],
    ["jobs", "history"],
    ["serve"],
    ["api"],
    ["api", "user-add"],
    ["api", "hash-password"],
    ["search"],
    ["search", "index"],
    ["search", "query"],
    ["search", "drop"],
    ["docs"],
    ["docs", "diagrams"],
]


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def message_lines(self) -> list[str]:
        """What the user reads: every output line but the JSON log lines."""
        lines = (self.stdout + "\n" + self.stderr).splitlines()
        return [line for line in lines if line.strip() and not line.lstrip().startswith("{")]

    def shown(self) -> str:
        return (
            f"lakesmith {' '.join(self.args)}: exit {self.returncode} after {self.seconds:.1f}s\n"
            f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        )

    def assert_ok(self, *expected: str) -> None:
        assert self.returncode == 0, self.shown()
        assert "Traceback" not in self.stdout + self.stderr, self.shown()
        for text in expected:
            assert text in self.stdout, self.shown()

    def assert_error(self, *expected: str, code: int = 2) -> None:
        """A clean failure: ``code``, no traceback, at most three lines, ``expected`` shown."""
        assert self.returncode == code, self.shown()
        assert "Traceback" not in self.stdout + self.stderr, self.shown()
        assert len(self.message_lines()) <= 3, self.shown()
        for text in expected:
            assert text in self.stdout + self.stderr, self.shown()


Case = tuple[list[str], dict[str, str], Path]


def _environment(env: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**out, "COLUMNS": "80", "PYTHONPYCACHEPREFIX": str(PYCACHE)}


def run_all(cases: dict[str, Case], parallel: int = 3) -> dict[str, Result]:
    """Run every case, ``parallel`` at a time (the machine has few cores and each process
    spends its time importing); each is killed after ``TIMEOUT_S``."""

    def one(case: Case) -> Result:
        args, env, cwd = case
        started = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "lakesmith", *args],
                env=_environment(env),
                cwd=cwd,
                text=True,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
            return Result(args, -9, out, f"{err}\n(killed after {TIMEOUT_S}s)", TIMEOUT_S)
        return Result(args, done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = {name: pool.submit(one, case) for name, case in cases.items()}
        return {name: future.result() for name, future in futures.items()}


def ingest(settings: Settings, contract: Contract) -> None:
    """GOOD valid readings and BAD out-of-range ones through every sink (a DQ batch, a
    schema version, quarantined records), without a broker."""
    raw = RawBatch(source="walk://")
    n = GOOD + BAD
    raw.extend("walk-0", list(range(n)), [reading(i, bad=i >= GOOD) for i in range(n)])
    dataset = Dataset(settings, contract).ensure()
    try:
        process_into(dataset, raw)
    finally:
        dataset.close()


@dataclass
class Walk:
    results: dict[str, Result]
    contract: Contract
    path: Path  # the contract's YAML
    env: dict[str, str]  # the stack's environment
    cwd: Path


@pytest.fixture(scope="module")
def walk(stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Walk:
    cwd = tmp_path_factory.mktemp("walk")
    contract, path = unique_contract(cwd)
    ingest(stack_settings, contract)
    ds = str(path)
    up = worker_env(stack_settings)
    closed = str(free_ports(1)[0])
    pg_down = {**up, "LAKESMITH__LOCAL__POSTGRES_PORT": closed}
    kafka_down = {**up, "LAKESMITH__LOCAL__KAFKA_PORT": closed}
    s3_down = {**up, "LAKESMITH__LOCAL__S3_PORT": closed}
    typesense_down = {**up, "LAKESMITH__LOCAL__TYPESENSE_PORT": closed}
    typo = {**up, "LAKESMITH__POSTGRESS__DSN": "postgresql://x@127.0.0.1:1/x"}
    no_section = {**up, "LAKESMITH__POSTGRES_DSN": "postgresql://x@127.0.0.1:1/x"}
    readings = cwd / "readings.json"
    readings.write_text(orjson.dumps([orjson.loads(reading(i)) for i in range(5)]).decode())
    # (d) a project folder found from a subfolder: lakesmith.toml names the stack's state
    project = cwd / "project"
    (project / "a" / "b").mkdir(parents=True)
    local = stack_settings.local
    (project / "lakesmith.toml").write_text(
        f'state_dir = "{stack_settings.state_dir}"\n[local]\n'
        f"postgres_port = {local.postgres_port}\nkafka_port = {local.kafka_port}\n"
        f"s3_port = {local.s3_port}\ntypesense_port = {local.typesense_port}\n"
        f'[lake]\nformat = "{stack_settings.lake.format}"\n'
        f'catalog = "{stack_settings.lake.catalog}"\n'
        + (
            f'warehouse = "{stack_settings.lake.warehouse}"\n'
            if stack_settings.lake.warehouse
            else ""
        )
    )
    plain = {k: v for k, v in up.items() if not k.startswith("LAKESMITH")}
    elsewhere = cwd / "elsewhere"
    elsewhere.mkdir()

    cases: dict[str, Case] = {}
    for command in COMMANDS:  # (a) every command's help, with a typo in the env too
        cases["help " + " ".join(command)] = ([*command, "--help"], up, cwd)
    cases["help with a typo"] = (["--help"], typo, cwd)
    cases["version"] = (["--version"], up, cwd)
    read_only = {  # (a) the read-only commands, for real
        "local status": ["local", "status"],
        "local logs": ["local", "logs", "postgres", "-n", "3"],
        "schema history": ["schema", "history", ds],
        "dq report": ["dq", "report", ds],
        "quarantine show": ["quarantine", "show", ds],
        "quarantine show --rule": [
            "quarantine",
            "show",
            ds,
            "--rule",
            "temperature_range",
            "-n",
            "2",
        ],
        "compact --dry-run": ["compact", ds, "--dry-run"],
        "backfill --verify-only": ["backfill", ds, "--verify-only"],
    }
    cases.update({name: (args, up, cwd) for name, args in read_only.items()})
    for what in ("show", "replay"):
        cases[f"quarantine {what} unknown rule"] = (
            ["quarantine", what, ds, "--rule", "no_such_rule"], up, cwd
        )  # fmt: skip
    cases["unknown dataset"] = (["schema", "history", "no.such_dataset"], up, cwd)
    pg_commands = {  # (b) each service down
        "run": ["run", ds, "--until-idle"],
        "schema history": ["schema", "history", ds],
        "dq report": ["dq", "report", ds],
        "quarantine replay": ["quarantine", "replay", ds],
        "backfill": ["backfill", ds],
        "jobs history": ["jobs", "history"],
        "serve": ["serve", "--port", closed],
        "api user-add": ["api", "user-add", "walker", "--password", "not-a-secret"],
    }
    cases.update({f"postgres down: {n}": (a, pg_down, cwd) for n, a in pg_commands.items()})
    kafka_commands = {
        "run": ["run", ds, "--until-idle"],
        "produce": ["produce", str(readings), "--dataset", ds, "--no-progress"],
        "simulate": ["simulate", "iot", "--devices", "2", "--duration", "1", "--no-progress"],
        "reset-positions": ["reset-positions", ds, "--to", "earliest", "--yes"],
    }
    cases.update({f"kafka down: {n}": (a, kafka_down, cwd) for n, a in kafka_commands.items()})
    cases["s3 down: local status"] = (["local", "status", "s3"], s3_down, cwd)
    cases["typesense down: local status"] = (["local", "status", "typesense"], typesense_down, cwd)
    for name, args in {
        "search query": ["search", "query", "pump"],
        "search index": ["search", "index"],
        "search drop": ["search", "drop", "--yes"],
    }.items():
        cases[f"typesense down: {name}"] = (args, typesense_down, cwd)
    for name, args in {  # (c) a misspelt config variable
        "local status": ["local", "status"],
        "schema history": ["schema", "history", ds],
        "run": ["run", ds, "--until-idle"],
    }.items():
        cases[f"typo: {name}"] = (args, typo, cwd)
    cases["typo without a section"] = (["dq", "report", ds], no_section, cwd)
    # (d) from another folder: the project found upwards; no project at all
    cases["subfolder: schema history"] = (["schema", "history", ds], plain, project / "a" / "b")
    cases["subfolder: local status"] = (["local", "status"], plain, project / "a" / "b")
    cases["no project: schema history"] = (["schema", "history", ds], plain, elsewhere)
    cases["no project: local status"] = (["local", "status"], plain, elsewhere)
    results = run_all(cases)
    slow = sorted(results.items(), key=lambda kv: -kv[1].seconds)[:8]
    print("slowest:", ", ".join(f"{name} {r.seconds:.1f}s" for name, r in slow))
    return Walk(results, contract, path, up, cwd)


# -- (a) the stack up -------------------------------------------------------------------------


def _command_paths(
    command: typer.core.TyperGroup, ctx: typer.Context, prefix: list[str]
) -> list[list[str]]:
    paths = [prefix]
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        assert sub is not None
        if isinstance(sub, typer.core.TyperGroup):
            paths += _command_paths(sub, ctx, [*prefix, name])
        else:
            paths.append([*prefix, name])
    return paths


def test_every_command_is_walked() -> None:
    group = typer.main.get_command(cli.app)
    assert isinstance(group, typer.core.TyperGroup)
    with typer.Context(group) as ctx:
        found = _command_paths(group, ctx, [])
    assert sorted(map(tuple, found)) == sorted(map(tuple, COMMANDS))


@pytest.mark.parametrize("command", [" ".join(c) for c in COMMANDS])
def test_help(walk: Walk, command: str) -> None:
    result = walk.results["help " + command]
    result.assert_ok("Usage:")
    assert "<bool>" not in result.stdout, result.shown()
    assert not result.stderr.strip(), result.shown()
    assert max(len(line) for line in result.stdout.splitlines()) <= 80, result.shown()


def test_help_needs_no_config(walk: Walk) -> None:
    walk.results["help with a typo"].assert_ok("Usage:")
    assert walk.results["version"].stdout.startswith("lakesmith ")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("local status", ["postgres", "kafka"]),
        ("local logs", []),
        ("schema history", ["v1", "device_id"]),
        ("dq report", ["records in", "quarantined", f"{GOOD + BAD:,}"]),
        ("quarantine show", ["temperature_range", "payload", f"{BAD} of {BAD}"]),
        ("quarantine show --rule", ["temperature_range", "showing 2", "walk-0/31"]),
        ("compact --dry-run", ["dry run"]),
        ("backfill --verify-only", []),
    ],
)
def test_read_only_commands(walk: Walk, case: str, expected: list[str]) -> None:
    walk.results[case].assert_ok(*expected)


@pytest.mark.parametrize("what", ["show", "replay"])
def test_unknown_rule_lists_the_rule_ids(walk: Walk, what: str) -> None:
    result = walk.results[f"quarantine {what} unknown rule"]
    result.assert_error("unknown rule 'no_such_rule'", "temperature_range", "humidity_range")


def test_unknown_dataset(walk: Walk) -> None:
    walk.results["unknown dataset"].assert_error("no.such_dataset", code=2)


# -- (b) each service down --------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "run",
        "schema history",
        "dq report",
        "quarantine replay",
        "backfill",
        "jobs history",
        "serve",
        "api user-add",
    ],
)
def test_postgres_down(walk: Walk, command: str) -> None:
    walk.results[f"postgres down: {command}"].assert_error(
        "PostgreSQL is not reachable", "lakesmith local up postgres"
    )


@pytest.mark.parametrize("command", ["run", "produce", "simulate", "reset-positions"])
def test_kafka_down(walk: Walk, command: str) -> None:
    walk.results[f"kafka down: {command}"].assert_error("Kafka")


@pytest.mark.parametrize("command", ["search query", "search index", "search drop"])
def test_typesense_down(walk: Walk, command: str) -> None:
    walk.results[f"typesense down: {command}"].assert_error(
        "Typesense is not reachable", "lakesmith local up typesense"
    )


@pytest.mark.parametrize("service", ["s3", "typesense"])
def test_other_service_down_is_a_status_of_1(walk: Walk, service: str) -> None:
    result = walk.results[f"{service} down: local status"]
    assert result.returncode == 1, result.shown()
    assert "Traceback" not in result.stdout + result.stderr
    row = next(line for line in result.stdout.splitlines() if f"│ {service} " in line)
    assert "│ no " in row or "│ stopped " in row, result.shown()  # its pid runs, no answer


# -- (c) a misspelt config variable -----------------------------------------------------------


@pytest.mark.parametrize("command", ["local status", "schema history", "run"])
def test_misspelt_variable_is_an_error(walk: Walk, command: str) -> None:
    walk.results[f"typo: {command}"].assert_error(
        "LAKESMITH__POSTGRESS__DSN", "LAKESMITH__POSTGRES__DSN"
    )


def test_variable_without_its_section_is_an_error(walk: Walk) -> None:
    walk.results["typo without a section"].assert_error("LAKESMITH__POSTGRES_DSN")


# -- (d) from another folder ------------------------------------------------------------------


def test_project_found_from_a_subfolder(walk: Walk) -> None:
    walk.results["subfolder: schema history"].assert_ok("v1")
    walk.results["subfolder: local status"].assert_ok("postgres")


def test_no_project_here(walk: Walk) -> None:
    status = walk.results["no project: local status"]
    assert status.returncode == 1 and "Traceback" not in status.stdout + status.stderr
    assert "stopped" in status.stdout, status.shown()
    walk.results["no project: schema history"].assert_error()


# -- changes, after the walk: replay counted as recovered; Ctrl-C -----------------------------


def test_replayed_records_count_as_recovered(walk: Walk, stack_settings: Settings) -> None:
    data = yaml.safe_load(walk.path.read_text())
    for rule in data["rules"]:
        if rule["id"] == "temperature_range":
            rule["max"] = 500  # the fix: BAD's 400 degrees are now valid
    relaxed = walk.cwd / "relaxed.yaml"
    relaxed.write_text(yaml.safe_dump(data))
    results = run_all(
        {"replay": (["quarantine", "replay", str(relaxed), "--rule", "temperature_range"],
                    walk.env, walk.cwd)}
    )  # fmt: skip
    results["replay"].assert_ok(f"examined {BAD}: recovered {BAD} into silver")
    after = run_all(
        {
            "report": (["dq", "report", str(walk.path)], walk.env, walk.cwd),
            "show": (["quarantine", "show", str(walk.path)], walk.env, walk.cwd),
            "again": (["quarantine", "replay", str(relaxed)], walk.env, walk.cwd),
        }
    )
    report = after["report"]
    report.assert_ok("recovered by replay", "still quarantined")
    lines = {
        line.split("│")[1].strip(): line
        for line in report.stdout.splitlines()
        if line.count("│") >= 3
    }
    assert f"{BAD} (" in lines["quarantined"], report.stdout  # at ingestion
    assert f"{BAD} (moved to silver)" in lines["recovered by replay"], report.stdout
    assert "0 (0.00%)" in lines["still quarantined"], report.stdout
    after["show"].assert_ok("nothing is quarantined")
    after["again"].assert_ok("examined 0")
    with connect(stack_settings) as conn:
        assert dq_store.recovered_total(conn, walk.contract.name) == BAD


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_ctrl_c_prints_a_summary(stack_settings: Settings, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.jsonl").write_bytes(b"\n".join(reading(i) for i in range(50)) + b"\n")
    contract, path = unique_contract(
        tmp_path,
        source={"kind": "file", "path": str(drop / "*.jsonl")},
        payload={"format": "jsonl"},
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "lakesmith", "run", str(path)],
        env=_environment(worker_env(stack_settings)),
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + TIMEOUT_S
        with connect(stack_settings) as conn:
            ensure_meta_schema(conn)  # the worker may not have created it yet
            while (totals := dq_store.dq_totals(conn, contract.name)) is None:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.3)
        assert totals[0] == 50
        # every file read: the worker waits for more without spinning (it used to poll
        # the exhausted source in a loop at 60-100 % of a core); the lake commits of the
        # batch may still be running when its DQ row shows, so let them end first
        time.sleep(1.5)
        cpu = _cpu_seconds(proc.pid)
        time.sleep(2.0)
        assert _cpu_seconds(proc.pid) - cpu < 0.3
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    shown = f"exit {proc.returncode}\n{out}\n{err}"
    assert proc.returncode == 130, shown
    assert f"{contract.name}: interrupted after 50 records in 1 batches" in out, shown
    assert "valid 50" in out and "Traceback" not in out + err, shown
    assert '"file_source_read"' in err, shown  # the user learns new files wait for a rerun
