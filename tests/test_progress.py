"""The CLI's progress display: drawn on a terminal, silent for scripts and with --quiet."""

import argparse
import io

from vipterm.commands.progress import TerminalProgress, progress_for
from vipterm.progress import NO_PROGRESS, ProgressTask


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_bars_and_they_count():
    stream = _Terminal()
    progress = progress_for(argparse.Namespace(quiet=False), stream=stream)
    assert isinstance(progress, TerminalProgress)
    with progress.task("importing rows", total=4) as task:
        task.advance(3)
        task.advance()
        assert task.completed == 4
    assert "importing rows" in stream.getvalue()


def test_a_pipe_and_quiet_get_nothing():
    assert progress_for(argparse.Namespace(quiet=False), stream=io.StringIO()) is NO_PROGRESS
    assert progress_for(argparse.Namespace(quiet=True), stream=_Terminal()) is NO_PROGRESS


def test_no_progress_still_counts_for_its_caller():
    with NO_PROGRESS.task("exporting", total=None) as task:
        task.advance(5)
        task.update(total=9)
    assert isinstance(task, ProgressTask) and (task.completed, task.total) == (5, 9)
