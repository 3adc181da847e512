"""The CLI's progress bar: `rich.progress` on stderr when it is a terminal, nothing otherwise.

Long commands (import-csv, sync export/import, report over a range, demo-data, backup) pass
`progress_for(args)` to their service. It is silent when stderr is not a terminal (a script or a
pipe reads only the results) or when `--quiet` was given, so output that a program reads never
carries it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vipterm.progress import NO_PROGRESS, Progress, ProgressTask


def quiet(args: argparse.Namespace | None) -> bool:
    """Whether `--quiet` was given (on the top level or on the command)."""
    return bool(getattr(args, "quiet", False))


def progress_for(args: argparse.Namespace | None, *, stream: Any = None) -> Progress:
    """A progress display on stderr for a person at a terminal; NO_PROGRESS for scripts and --quiet."""
    stream = stream if stream is not None else sys.stderr
    if quiet(args) or not getattr(stream, "isatty", lambda: False)():
        return NO_PROGRESS
    return TerminalProgress(stream)


class _RichTask(ProgressTask):
    def __init__(self, owner: TerminalProgress, label: str, total: int | None) -> None:
        super().__init__(label, total)
        self._owner = owner
        self._id = owner.bars.add_task(label, total=total)

    def _changed(self) -> None:
        self._owner.bars.update(self._id, completed=self.completed, total=self.total, description=self.label)

    def close(self) -> None:
        self._owner.bars.update(self._id, completed=self.completed, total=self.total or self.completed)
        self._owner.bars.remove_task(self._id)
        self._owner.closed_one()


class TerminalProgress(Progress):
    """Bars with rate and time left, drawn on a terminal while tasks are open."""

    def __init__(self, stream: Any) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TaskProgressColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        class RateColumn(TextColumn):
            """Items per second: rows, changes, contacts."""

            def __init__(self) -> None:
                super().__init__("")

            def render(self, task: Any) -> Any:
                from rich.text import Text

                speed = task.finished_speed or task.speed
                return Text(f"{speed:,.0f}/s" if speed else "", style="progress.data.speed")

        self.bars = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=True,
        )
        self._open = 0

    def task(self, label: str, total: int | None = None) -> ProgressTask:
        if self._open == 0:
            self.bars.start()
        self._open += 1
        return _RichTask(self, label, total)

    def closed_one(self) -> None:
        self._open -= 1
        if self._open == 0:
            self.bars.stop()
