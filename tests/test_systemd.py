"""The example systemd units (examples/systemd/): the Prefect server, the workers (a template) and the reply
watcher. Each one's command exists in the project's environment and answers `--help`, each reads the
settings file the README names, and systemd itself (`systemd-analyze verify`, when the machine has it)
finds nothing wrong with them once the checkout's path is put in."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess

import pytest

from core.settings import PROJECT_ROOT

UNITS = PROJECT_ROOT / "examples" / "systemd"
CHECKOUT = "/opt/reportchain"  # where the units expect the project (README: adjust it)
ENV_FILE = f"{CHECKOUT}/.env"
EXPECTED = {"reportchain-prefect-server.service": ["prefect", "server", "start"],
            "reportchain-worker@.service": ["prefect", "worker", "start", "--pool", "reportchain"],
            "reportchain-watch.service": ["reportchain", "replies", "watch"]}


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read(UNITS / name, encoding="utf-8")
    return parser


def here(text: str) -> str:
    """The unit's text with this checkout in place of /opt/reportchain and an instance name for %i, %H."""
    return text.replace(CHECKOUT, str(PROJECT_ROOT)).replace("%i", "1").replace("%H", "host")


def test_the_units_are_the_ones_the_readme_points_to():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert {p.name for p in UNITS.iterdir()} == set(EXPECTED)
    for name in EXPECTED:
        assert f"examples/systemd/{name}" in readme


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_unit_reads_the_settings_file_the_readme_names_in_the_checkout(name):
    service = unit(name)["Service"]
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert service["WorkingDirectory"] == CHECKOUT
    assert service["EnvironmentFile"] == ENV_FILE and f"`{ENV_FILE}`" in readme
    assert service["Restart"] == "always"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_units_command_exists_and_answers_help(name):
    argv = shlex.split(here(unit(name)["Service"]["ExecStart"]))
    program = argv[0]
    assert program.startswith(str(PROJECT_ROOT / ".venv" / "bin")), program
    assert shutil.which(program), f"{program} is not installed"
    words = [argv[0].rsplit("/", 1)[1], *argv[1:]]
    assert words[:len(EXPECTED[name])] == EXPECTED[name]
    done = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Usage" in done.stdout


def test_systemd_finds_nothing_wrong_with_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is not on this machine (apt-get install systemd: .ci/run does)"
    for name in EXPECTED:
        (tmp_path / name).write_text(here((UNITS / name).read_text(encoding="utf-8")), encoding="utf-8")
    names = [str(tmp_path / n.replace("@.", "@1.")) for n in EXPECTED]
    done = subprocess.run([analyze, "verify", "--man=no", *names], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr
