"""The product runs on Windows and macOS as well as Linux: no POSIX-only modules or calls in
vipterm/ (signals, fork, user ids, terminal control), and two things POSIX and Windows do differently
happen in one place only, `store/files.py`: opening a folder to flush it (skipped on Windows, where a
folder cannot be opened) and setting file modes (skipped on Windows, which has no mode bits)."""

from __future__ import annotations

import ast
from pathlib import Path

import vipterm

PACKAGE = Path(vipterm.__file__).resolve().parent
POSIX_MODULES = {"signal", "fcntl", "termios", "tty", "pty", "pwd", "grp", "resource", "posix", "syslog"}
POSIX_CALLS = {
    "fork",
    "forkpty",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "kill",
    "killpg",
    "setsid",
    "mkfifo",
    "O_DIRECTORY",
    "O_NOFOLLOW",
    "chown",
    "lchown",
    "getpgid",
    "setpgrp",
    "wait",
    "waitpid",
}
FOLDER_FLUSH = PACKAGE / "store" / "files.py"


def _found(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(root)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                f"{where}:{node.lineno} import {a.name}" for a in node.names if a.name.split(".")[0] in POSIX_MODULES
            ]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in POSIX_MODULES:
                found.append(f"{where}:{node.lineno} from {node.module}")
        elif isinstance(node, ast.Attribute) and node.attr == "chmod" and path != FOLDER_FLUSH:
            found.append(f"{where}:{node.lineno} chmod (set modes through store.files.private_mode)")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os":
            if node.attr in POSIX_CALLS:
                found.append(f"{where}:{node.lineno} os.{node.attr}")
            if node.attr == "O_RDONLY" and path != FOLDER_FLUSH:
                found.append(f"{where}:{node.lineno} os.O_RDONLY (flush through store.files.fsync_path)")
    return found


def test_the_product_uses_no_posix_only_calls():
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in _found(path)]
    assert found == []


def test_the_scan_sees_what_it_looks_for(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import signal\nimport os\nos.fork()\nfd = os.open('.', os.O_RDONLY)\nfrom fcntl import flock\n"
        "probe.chmod(0o600)\n"
    )
    hits = sorted(_found(probe, tmp_path), key=lambda hit: int(hit.split(":")[1].split(" ")[0]))
    assert [hit.split(" ", 1)[1] for hit in hits] == [
        "import signal",
        "os.fork",
        "os.O_RDONLY (flush through store.files.fsync_path)",
        "from fcntl",
        "chmod (set modes through store.files.private_mode)",
    ]
