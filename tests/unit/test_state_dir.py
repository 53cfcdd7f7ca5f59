"""The state dir is found from anywhere in a project, never silently created elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakesmith.cli import app, common
from lakesmith.config import find_project_root, load_settings


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path/proj`` and its subfolder ``a/b``, which is the working directory."""
    if find_project_root(tmp_path) is not None:
        pytest.skip(f"a parent of {tmp_path} holds lakesmith.toml or .lakesmith/")
    root = tmp_path / "proj"
    (root / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(root / "a" / "b")
    monkeypatch.delenv("LAKESMITH_CONFIG")  # look for lakesmith.toml as a user's shell does
    return root


def test_config_file_found_from_a_subfolder(project: Path) -> None:
    (project / "lakesmith.toml").write_text("[local]\nkafka_port = 29092\n")
    s = load_settings()
    assert s.local.kafka_port == 29092
    assert s.state_dir == project / ".lakesmith"
    assert not s.state_exists() and not s.state_dir.exists(), "found, not created"


def test_existing_state_dir_found_from_a_subfolder(project: Path) -> None:
    (project / ".lakesmith").mkdir()
    s = load_settings()
    assert s.state_dir == project / ".lakesmith" and s.state_exists()


def test_nearest_project_folder_wins(project: Path) -> None:
    (project / ".lakesmith").mkdir()
    (project / "a" / "lakesmith.toml").write_text("")
    assert load_settings().state_dir == project / "a" / ".lakesmith"


def test_no_project_means_the_working_directory(project: Path) -> None:
    s = load_settings()
    assert s.state_dir == project / "a" / "b" / ".lakesmith"
    assert not s.state_exists()


def test_relative_state_dir_in_the_config_is_relative_to_the_config(project: Path) -> None:
    (project / "lakesmith.toml").write_text('state_dir = "state"\n')
    assert load_settings().state_dir == project / "state"


def test_relative_state_dir_in_a_named_config_is_relative_to_that_file(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "prod.toml").write_text('state_dir = "../prod-state"\n')
    monkeypatch.setenv("LAKESMITH_CONFIG", str(tmp_path / "conf" / "prod.toml"))
    assert load_settings().state_dir == tmp_path / "conf" / "../prod-state"


def test_env_state_dir_wins_and_is_relative_to_the_working_directory(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "lakesmith.toml").write_text('state_dir = "state"\n')
    (project / ".lakesmith").mkdir()
    monkeypatch.setenv("LAKESMITH__STATE_DIR", "here")
    assert load_settings().state_dir == project / "a" / "b" / "here"
    monkeypatch.setenv("LAKESMITH__STATE_DIR", "/srv/lakesmith-state")
    assert load_settings().state_dir == Path("/srv/lakesmith-state")


@pytest.fixture
def cli_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """The root options are reset afterwards; no logging set-up."""
    monkeypatch.setattr(common.state, "state_dir", None)
    monkeypatch.setattr(common.state, "log_level", None)
    monkeypatch.setattr(common, "configure_logging", lambda level: None)


@pytest.mark.usefixtures("cli_state")
def test_state_dir_option_wins_over_env_and_config(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "lakesmith.toml").write_text('state_dir = "state"\n')
    monkeypatch.setenv("LAKESMITH__STATE_DIR", "/srv/from-env")
    result = CliRunner().invoke(app, ["--state-dir", "mine", "local", "status", "--help"])
    assert result.exit_code == 0, result.output
    assert "--state-dir" not in result.output  # the sub-command's help
    assert common.settings().state_dir == project / "a" / "b" / "mine"


@pytest.mark.usefixtures("cli_state")
def test_without_the_option_cli_settings_find_the_project(project: Path) -> None:
    (project / ".lakesmith").mkdir()
    result = CliRunner().invoke(app, ["local", "status", "--help"])
    assert result.exit_code == 0, result.output
    assert common.settings().state_dir == project / ".lakesmith"
