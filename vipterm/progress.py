"""Progress of long work, reported by the services without knowing who shows it.

A service that can take more than a second (spreadsheet import, sync export and import, a report
over a range, demo data, backup) takes a `progress: Progress` argument and reports through it:

    with progress.task("importing clients", total=len(rows)) as task:
        for batch in batches:
            ...
            task.advance(len(batch))

`NO_PROGRESS` (the default) shows nothing. The CLI passes a terminal progress bar
(`vipterm.commands.progress.progress_for`); the TUI may pass one that posts messages. This module
imports nothing beyond the standard library, so the services stay importable without a UI.
"""

from __future__ import annotations

from types import TracebackType


class ProgressTask:
    """One piece of long work: a label, an optional total, and how much is done."""

    def __init__(self, label: str, total: int | None = None) -> None:
        self.label = label
        self.total = total
        self.completed = 0

    def advance(self, amount: int = 1) -> None:
        self.completed += amount
        self._changed()

    def update(self, *, completed: int | None = None, total: int | None = None, label: str | None = None) -> None:
        if completed is not None:
            self.completed = completed
        if total is not None:
            self.total = total
        if label is not None:
            self.label = label
        self._changed()

    def _changed(self) -> None:
        """Subclasses draw here; the base class only counts."""

    def close(self) -> None:
        """Subclasses remove their display here."""

    def __enter__(self) -> ProgressTask:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Progress:
    """Where a service reports its long work. This base shows nothing (see `NO_PROGRESS`)."""

    def task(self, label: str, total: int | None = None) -> ProgressTask:
        return ProgressTask(label, total)


NO_PROGRESS = Progress()
