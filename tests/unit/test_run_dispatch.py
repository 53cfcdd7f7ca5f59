"""``lakesmith run NAME`` runs a domain's batch pipeline, ``lakesmith run DATASET`` the
dataset's streaming worker: the first argument picks (``cli.run.RunCommands``)."""

from __future__ import annotations

from typer.testing import CliRunner

from lakesmith.cli import app


def test_run_help_explains_both_forms_and_lists_the_pipelines() -> None:
    out = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "80"})
    assert out.exit_code == 0, out.output
    assert "run DATASET" in out.output and "run NAME" in out.output
    assert "sales" in out.output.split("Commands")[1]


def test_a_pipeline_name_gets_the_pipeline_and_a_dataset_the_worker() -> None:
    sales = CliRunner().invoke(app, ["run", "sales", "--help"])
    assert sales.exit_code == 0 and "--chunk-rows" in sales.output
    worker = CliRunner().invoke(app, ["run", "iot.telemetry", "--help"])
    assert worker.exit_code == 0 and "--until-idle" in worker.output
    assert "--chunk-rows" not in worker.output


def test_an_unknown_dataset_is_still_the_worker_s_error() -> None:
    out = CliRunner().invoke(app, ["run", "nope.nothing", "--until-idle"])
    assert out.exit_code != 0
    assert "unknown dataset 'nope.nothing'" in str(out.exception)
