"""Reviewers' replies as their mail clients really send them, read by `reportchain replies parse`.

Each .eml in tests/replies/ has an entry in tests/replies/expected.yaml saying what a careful human
reader says the reviewer decided. A false approval is the worst possible outcome, so when a reply is
ambiguous the expectation is "unclear". No database and no network are needed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from notifications.decision import UNCLEAR
from reportchain.cli import app

REPLIES = Path(__file__).parent / "replies"
EXPECTED: dict[str, dict] = yaml.safe_load((REPLIES / "expected.yaml").read_text(encoding="utf-8"))
CASES = sorted(EXPECTED)
KEYS = {"why", "decision", "auto_reply", "from", "in_reply_to", "subject_tag", "attachments",
        "comment_contains", "comment_excludes"}


def parse(path: Path, *options: str) -> Result:
    return CliRunner().invoke(app, ["replies", "parse", str(path), *options], env={"COLUMNS": "250"})


def parsed(path: Path) -> dict:
    result = parse(path, "--json")
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}\n{result.exception!r}"
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"not one JSON object on stdout ({exc}):\n{result.stdout}") from exc
    assert isinstance(data, dict), data
    return data


@pytest.mark.parametrize("name", CASES)
def test_reply_is_read_as_expected(name):
    want = EXPECTED[name]
    got = parsed(REPLIES / f"{name}.eml")
    shown = json.dumps(got, ensure_ascii=False, indent=1)
    why = want["why"]

    assert got.get("decision") == want["decision"], f"{why}\n{shown}"
    assert got.get("auto_reply") is want["auto_reply"], f"{why}\n{shown}"
    assert got.get("from") == want["from"], shown
    assert got.get("in_reply_to") == want["in_reply_to"], shown
    assert got.get("subject_tag") == want["subject_tag"], shown
    assert got.get("attachments") == want["attachments"], shown
    assert got.get("under_header") is want.get("under_header", False), f"{why}\n{shown}"

    comment = got.get("comment")
    assert isinstance(comment, str), shown
    for text in want["comment_contains"]:
        assert text in comment, f"comment should keep {text!r}: {why}\n{shown}"
    for text in want["comment_excludes"]:
        assert text not in comment, f"comment should not carry {text!r} (quote/signature/footer): {why}\n{shown}"


def test_every_reply_has_an_expectation_and_every_expectation_a_reply():
    files = {p.stem for p in REPLIES.glob("*.eml")}
    assert len(files) >= 150
    assert files - set(EXPECTED) == set(), "replies without an expectation"
    assert set(EXPECTED) - files == set(), "expectations without a reply"


def test_expectations_are_well_formed():
    for name, want in EXPECTED.items():
        assert set(want) - {"under_header"} == KEYS, name  # under_header: only where it is true
        assert want.get("under_header", True) is True, name
        assert want["decision"] in {"approve", "return", UNCLEAR}, name
        assert isinstance(want["auto_reply"], bool), name
        if want["auto_reply"]:
            assert want["decision"] == UNCLEAR, f"{name}: an auto-reply never decides"
        assert want["from"] == want["from"].lower() and "<" not in want["from"], name
        assert want["in_reply_to"] is None or (want["in_reply_to"].startswith("<")
                                               and want["in_reply_to"].endswith(">")), name
        assert want["subject_tag"] is None or want["subject_tag"].startswith("R-"), name
        for key in ("attachments", "comment_contains", "comment_excludes"):
            assert isinstance(want[key], list) and all(isinstance(s, str) and s for s in want[key]), (name, key)
        assert want["why"].strip(), name


@pytest.mark.parametrize("name", ["01-qq-utf8-approve", "09-126-gbk-return-missing-analysis",
                                  "18-iphone-received-only"])
def test_human_readable_form_names_the_sender(name):
    result = parse(REPLIES / f"{name}.eml")
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}\n{result.exception!r}"
    assert EXPECTED[name]["from"] in result.output.lower(), result.output


def test_missing_file_is_refused_with_its_path(tmp_path):
    missing = tmp_path / "no-such-reply.eml"
    result = parse(missing, "--json")
    assert result.exit_code != 0, result.output
    assert "no-such-reply.eml" in result.output, result.output


def test_installed_command_reads_a_reply():
    name = "17-outlook-zh-original-gbk-disagree"
    command = [str(Path(sys.executable).with_name("reportchain")), "replies", "parse",
               str(REPLIES / f"{name}.eml"), "--json"]
    done = subprocess.run(command, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert json.loads(done.stdout.decode("utf-8"))["decision"] == EXPECTED[name]["decision"] == "return"
