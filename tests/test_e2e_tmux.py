"""End to end in a real terminal: tmux runs `python -m vipterm` on a copy of the example database,
keys are typed as a worker would (unlock, filter, open a client, log a contact, save), the screen is
read with `capture-pane`, and the new contact is then read back through the CLI.

Skipped only when tmux is not installed (CI installs it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DEMO_PASSPHRASE, EXAMPLE_DB

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


class Terminal:
    """One tmux server of our own (its own socket), so the user's tmux and its environment stay out."""

    def __init__(self, tmp_path: Path, command: list[str], env: dict[str, str], size=(80, 24)):
        self.socket = f"vipterm-e2e-{os.getpid()}-{time.monotonic_ns()}"
        self.name = "vipterm"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        line = f"env {exports} {shlex.join(command)}; echo VIPTERM-EXITED-$?; sleep 30"
        self.tmux("new-session", "-d", "-s", self.name, "-x", str(size[0]), "-y", str(size[1]), line)

    def tmux(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name).stdout

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen()}")

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def environment(tmp_path):
    env = {
        "VIPTERM_CONFIG": str(tmp_path / "no-config.toml"),  # the tester's own settings stay out
        "TERM": "xterm-256color",
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    return env


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vipterm", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env, "VIPTERM_PASSPHRASE": DEMO_PASSPHRASE},
    )


def test_a_worker_logs_a_contact_in_a_real_terminal(example_copy, environment):
    listed = _cli("clients", "list", "--json", "--db", str(example_copy), env=environment)
    assert listed.returncode == 0, listed.stderr
    client = json.loads(listed.stdout)["clients"][-1]
    note = f"e2e check-in at the park {os.getpid()}"

    term = Terminal(example_copy.parent, [sys.executable, "-m", "vipterm", "--db", str(example_copy)], environment)
    try:
        term.wait_for("passphrase")
        term.type(DEMO_PASSPHRASE)
        term.keys("Enter")
        term.wait_for("due today")  # the caseload has loaded
        term.keys("/")
        term.wait_for("/ filter ^l lock")  # the filter has the focus
        term.type(client["pseudonym"])
        term.wait_for("(filtered from")
        term.keys("Enter")
        screen = term.wait_for("next follow-up")
        assert client["pseudonym"] in screen and client["name"].split()[0] in screen
        term.keys("l")
        term.wait_for("Log contact")
        term.type("r")  # the outcome: reached; enter moves on to the note
        term.wait_for("outcome  reached")
        term.keys("Enter")  # typed on at once: keys after Enter belong to the note, not the outcome
        term.type(note)
        term.keys("C-s")
        screen = term.wait_for("logged")
        assert f"contact with {client['pseudonym']} logged" in screen
        term.wait_for("2026-11-23 09:00  contact")  # the reloaded timeline shows it at the top
        term.keys("C-q")
        term.wait_for("VIPTERM-EXITED-0")
    finally:
        term.close()

    shown = _cli("clients", "show", client["id"], "--json", "--db", str(example_copy), env=environment)
    assert shown.returncode == 0, shown.stderr
    contacts = [e for e in json.loads(shown.stdout)["timeline"] if e["kind"] == "contact"]
    assert any(note in e["summary"] for e in contacts), [e["summary"] for e in contacts[:3]]


def test_a_pasted_three_line_note_is_saved_whole(example_copy, environment, tmp_path):
    """Bracketed paste, as a terminal sends it (line breaks as carriage returns), into the note."""
    lines = [
        f"pasted e2e note {os.getpid()}: met at the park",
        "  José: «they're looking for him»",
        "next: court on the 3rd, bring the letter",
    ]
    clip = tmp_path / "clip.txt"
    clip.write_text("\n".join(lines) + "\n", encoding="utf-8")

    term = Terminal(example_copy.parent, [sys.executable, "-m", "vipterm", "--db", str(example_copy)], environment)
    try:
        term.wait_for("passphrase")
        term.type(DEMO_PASSPHRASE)
        term.keys("Enter")
        term.wait_for("due today")
        term.keys("l")  # the client at the top of the caseload
        screen = term.wait_for("Log contact")
        pseudonym = next(word for word in screen.split() if word.startswith("VIP-"))
        term.type("r")  # the outcome: reached; enter moves on to the note
        term.wait_for("outcome  reached")  # "r" is in the field, "eached" suggested: it has the focus
        term.keys("Enter")  # typed or pasted on at once: what follows Enter belongs to the next field
        term.tmux("load-buffer", "-b", "note", str(clip))
        term.tmux("paste-buffer", "-p", "-b", "note", "-t", term.name)
        term.wait_for("bring the letter")  # every line is in the note field
        term.keys("C-s")
        term.wait_for("logged")
        term.keys("C-q")
        term.wait_for("VIPTERM-EXITED-0")
    finally:
        term.close()

    shown = _cli("clients", "show", pseudonym, "--json", "--db", str(example_copy), env=environment)
    assert shown.returncode == 0, shown.stderr
    contacts = [e for e in json.loads(shown.stdout)["timeline"] if e["kind"] == "contact"]
    assert any(e["note"] == "\n".join(lines) for e in contacts), [e["note"] for e in contacts[:3]]


def test_vipterm_demo_opens_a_throwaway_copy(tmp_path, environment):
    example = tmp_path / "example.db"
    shutil.copy(EXAMPLE_DB, example)
    digest = hashlib.sha256(example.read_bytes()).hexdigest()
    term = Terminal(tmp_path, [sys.executable, "-m", "vipterm", "demo", "--example", str(example)], environment)
    try:
        term.wait_for(f"the passphrase is {DEMO_PASSPHRASE}")
        assert "demo.db" in term.screen()  # the copy, never the example itself
        term.type(DEMO_PASSPHRASE)
        term.keys("Enter")
        term.wait_for("due today")
        term.keys("l")
        term.wait_for("Log contact")
        term.type("r")  # the outcome: reached; enter moves on to the note
        term.wait_for("outcome  reached")
        term.keys("Enter")  # typed or pasted on at once: what follows Enter belongs to the next field
        term.type("written to the throwaway copy only")
        term.keys("C-s")
        term.wait_for("logged")
        term.keys("C-q")
        term.wait_for("VIPTERM-EXITED-0")
    finally:
        term.close()
    assert hashlib.sha256(example.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("vipterm-demo")) == []


def test_a_draft_survives_a_killed_terminal(example_copy, environment, tmp_path):
    """Type into a form, kill -9 the app (a dead battery), start again: the draft is offered back."""
    from vipterm.services import drafts
    from vipterm.services.database import open_store

    note = f"typed before the crash {os.getpid()}"
    pid_file = tmp_path / "app.pid"
    start = (
        f"echo $$ > {shlex.quote(str(pid_file))}; exec {shlex.quote(sys.executable)} -m vipterm --db "
        f"{shlex.quote(str(example_copy))}"
    )
    term = Terminal(example_copy.parent, ["sh", "-c", start], environment)
    try:
        term.wait_for("passphrase")
        term.type(DEMO_PASSPHRASE)
        term.keys("Enter")
        term.wait_for("due today")
        term.keys("l")
        term.wait_for("Log contact")
        term.type("r")  # the outcome: reached; enter moves on to the note
        term.wait_for("outcome  reached")  # "r" is in the field, "eached" suggested: it has the focus
        term.keys("Enter")  # typed or pasted on at once: what follows Enter belongs to the next field
        term.type(note)
        term.wait_for(note)
        deadline = time.monotonic() + 30
        with open_store(example_copy, DEMO_PASSPHRASE) as store:  # the draft is in the database
            while not any(d.fields.get("note") == note for d in drafts.list_drafts(store)):
                assert time.monotonic() < deadline, f"no draft written: {[d.fields for d in drafts.list_drafts(store)]}"
                time.sleep(0.2)
        os.kill(int(pid_file.read_text()), 9)
        term.wait_for("VIPTERM-EXITED-137")
    finally:
        term.close()

    term = Terminal(example_copy.parent, [sys.executable, "-m", "vipterm", "--db", str(example_copy)], environment)
    try:
        term.wait_for("passphrase")
        term.type(DEMO_PASSPHRASE)
        term.keys("Enter")
        screen = term.wait_for("Unsaved draft")
        assert "Log contact" in screen and note in screen
        term.keys("r")
        screen = term.wait_for("ctrl+s save")
        assert "Log contact" in screen and note in screen  # back in the form, text and all
        term.keys("C-s")
        term.wait_for("logged")
        term.keys("C-q")
        term.wait_for("VIPTERM-EXITED-0")
    finally:
        term.close()
    with open_store(example_copy, DEMO_PASSPHRASE) as store:
        assert drafts.list_drafts(store) == []
