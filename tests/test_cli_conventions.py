"""CLI conventions, run as a user runs them: --version, shell completion, --quiet on either side of
the command, results on stdout and messages on stderr, tables that never cut an id or a name in a
pipe, unique id prefixes on a terminal (accepted back by every command), and guides reachable from
every --help through `vipterm help`."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from importlib.metadata import version as dist_version
from pathlib import Path

import pexpect
import pytest

from tests.conftest import DEMO_PASSPHRASE, EXAMPLE_DB
from tests.test_cli import ENV, vipterm
from vipterm.cli import build_parser
from vipterm.commands.common import unique_prefixes
from vipterm.commands.meta import TOPICS, guides_folder

UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("conventions") / "example.db"
    shutil.copy(EXAMPLE_DB, path)
    return path


def demo(*args, db: Path):
    return vipterm(*args, "--db", str(db), passphrase=DEMO_PASSPHRASE)


def test_version():
    result = vipterm("--version", passphrase=None)
    assert result.returncode == 0 and result.stdout.strip() == f"vipterm {dist_version('vipterm')}"


def test_bash_completion_completes_commands_and_subcommands(tmp_path):
    if not shutil.which("bash"):
        pytest.skip("bash is not installed")
    script = vipterm("completion", "bash", passphrase=None)
    assert script.returncode == 0 and script.stdout.startswith("#")
    (tmp_path / "vipterm.bash").write_text(script.stdout)

    def complete(*words: str) -> set[str]:
        line = " ".join(["vipterm", *words])
        probe = (
            f"source {tmp_path / 'vipterm.bash'}\n"
            f"COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n"
            f"COMP_WORDS=(vipterm {' '.join(words)}); COMP_CWORD={len(words)}\n"
            "_shtab_vipterm\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
        )
        done = subprocess.run(
            ["bash", "--norc", "--noprofile"], input=probe, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return {w.strip() for w in done.stdout.split()}

    assert {"clients", "sync", "report", "completion", "help"} <= complete("")
    assert {"list", "show", "assign"} <= complete("clients", "")
    assert "--quiet" in complete("clients", "list", "--q")


def test_zsh_and_fish_scripts_and_an_unknown_shell():
    assert vipterm("completion", "zsh", passphrase=None).stdout.startswith("#compdef vipterm")
    assert "complete -c vipterm" in vipterm("completion", "fish", passphrase=None).stdout
    assert vipterm("completion", "cmd.exe", passphrase=None).returncode == 2


def test_quiet_before_or_after_the_command_silences_notes_not_results_or_errors(example):
    loud = demo("workers", "list", db=example)
    assert loud.returncode == 0 and loud.stderr.strip() == "8 worker(s)"  # the count under the table: a note
    for quiet in (["-q", "workers", "list"], ["workers", "list", "--quiet"], ["--quiet", "workers", "list", "-q"]):
        result = demo(*quiet, db=example)
        assert result.returncode == 0 and result.stderr == "" and result.stdout == loud.stdout
    missing = vipterm("workers", "list", "-q", "--db", str(example.parent / "none.db"))
    assert missing.returncode == 4 and missing.stderr.startswith("vipterm: no database at")


def test_results_on_stdout_hints_on_stderr(tmp_path):
    laptop = tmp_path / "laptop.db"
    assert vipterm("init", "--db", str(laptop)).returncode == 0
    request = vipterm("enroll", "request", "--db", str(laptop), "--out", str(tmp_path))
    assert request.returncode == 0, request.stderr
    assert request.stdout.startswith("wrote ") and "fingerprint:" in request.stdout
    assert "show this fingerprint" in request.stderr and "show this fingerprint" not in request.stdout
    quiet = vipterm("enroll", "request", "--db", str(laptop), "--out", str(tmp_path / "again.vipreq"), "-q")
    assert quiet.returncode == 0 and quiet.stderr == "" and "fingerprint:" in quiet.stdout


def test_tables_in_a_pipe_keep_every_id_and_name_whole(example):
    long_name = "Maria Guadalupe Esperanza de los Santos Villanueva-Montoya Jr."
    assert demo("workers", "add", long_name, db=example).returncode == 0
    listed = demo("workers", "list", db=example)
    header, *rows = listed.stdout.splitlines()
    assert header.split("\t")[:2] == ["worker", "id"]
    by_name = {row.split("\t")[0]: row.split("\t")[1] for row in rows}
    assert long_name in by_name and all(UUID.fullmatch(i) for i in by_name.values())  # whole, never cut
    clients = demo("clients", "list", "--all", db=example)
    header, *rows = clients.stdout.splitlines()
    assert len(rows) > 100 and all(len(r.split("\t")) == len(header.split("\t")) for r in rows)


def test_a_terminal_shows_unique_prefixes_that_commands_accept(example):
    child = pexpect.spawn(
        sys.executable,
        ["-m", "vipterm", "workers", "list", "--db", str(example)],
        env=dict(ENV, VIPTERM_PASSPHRASE=DEMO_PASSPHRASE),
        encoding="utf-8",
        timeout=120,
        dimensions=(50, 80),
    )
    child.expect(pexpect.EOF)
    child.close()
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before)
    assert child.exitstatus == 0, screen
    assert not UUID.search(screen)  # no whole id: the unique prefixes only
    shown = re.findall(r"\b([0-9a-f]{8}(?:-[0-9a-f-]*)?)(?=\s)", screen)
    ids = [row.split("\t")[1] for row in demo("workers", "list", db=example).stdout.splitlines()[1:]]
    prefixes = unique_prefixes(ids)
    assert sorted(shown) == sorted(prefixes.values())
    some = next(iter(prefixes.values()))
    picked = demo("clients", "list", "--worker", some, "--json", db=example)
    assert picked.returncode == 0, picked.stderr


def test_prefixes_that_fit_several_or_none_are_refused_clearly(example):
    several = demo("clients", "list", "--worker", "017134f7-fe80", db=example)  # the demo's 8 staff start so
    assert several.returncode == 2 and "matches 8 workers: type more of the id" in several.stderr
    none = demo("clients", "show", "ffffffff", db=example)
    assert none.returncode == 9 and "no single client matches 'ffffffff'" in none.stderr
    plan = demo("review", "cancel", "ffffffff", db=example)
    assert plan.returncode == 9 and "no planned notification with an id starting 'ffffffff'" in plan.stderr


def test_unique_prefixes_grow_until_they_differ():
    ids = [
        "019fb80b-aa00-70c2-9599-eec752e9e20f",
        "019fb80b-aa00-73dc-ab82-cacf25b6c444",
        "01a0ed09-3a00-73dc-ab82-cacf25b6c444",
    ]
    assert unique_prefixes(ids) == {ids[0]: "019fb80b-aa00-70", ids[1]: "019fb80b-aa00-73", ids[2]: "01a0ed09"}
    # A prefix unique among the rows shown but not among every record is made longer.
    assert unique_prefixes(ids[2:], universe=ids + ["01a0ed09-3a00-7000-0000-000000000000"]) == {
        ids[2]: "01a0ed09-3a00-73"
    }


def _helps(parser: argparse.ArgumentParser, path=("vipterm",)):
    yield " ".join(path), parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _helps(child, (*path, name))


def test_every_help_points_at_guides_that_are_installed():
    pointers = set()
    for command, text in _helps(build_parser()):
        flat = " ".join(text.split())
        assert "docs/" not in flat, f"{command} --help points at a file that is not installed"
        pointers |= set(re.findall(r"`vipterm help ([a-z][a-z-]*)`", flat))
    assert {"metrics", "import-csv", "recovery"} <= pointers
    assert pointers <= set(TOPICS)
    for topic in TOPICS:
        assert (guides_folder() / f"{topic}.md").is_file()


def test_help_prints_a_guide_and_refuses_an_unknown_one():
    listing = vipterm("help", passphrase=None)
    assert listing.returncode == 0 and all(topic in listing.stdout for topic in TOPICS)
    metrics = vipterm("help", "metrics", passphrase=None)
    assert metrics.returncode == 0 and metrics.stdout == (guides_folder() / "metrics.md").read_text("utf-8")
    assert Path(vipterm("help", "--path", passphrase=None).stdout.strip(), "examples", "clients.csv").is_file()
    unknown = vipterm("help", "nothing", passphrase=None)
    assert unknown.returncode == 9 and "there are: cli-json" in unknown.stderr


def test_a_result_written_where_asked_leaves_stdout_empty(example, tmp_path):
    client = demo("clients", "list", db=example).stdout.splitlines()[1].split("\t")[1]
    target = tmp_path / "record.json"
    exported = demo("clients", "export", client, "--format", "json", "--out", str(target), db=example)
    assert exported.returncode == 0 and exported.stdout == "" and f"wrote the record of {client}" in exported.stderr
    assert target.is_file()
    quiet = demo("clients", "export", client, "--format", "json", "--out", str(target), "--force", "-q", db=example)
    assert quiet.returncode == 0 and quiet.stdout == quiet.stderr == ""
