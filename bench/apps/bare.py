"""The baseline: a bare Textual app with a Header, a DataTable and a Footer, nothing else.

It is what any Textual app pays to start and to hold a table, so vipterm's startup and memory
are reported as ratios to it. `rows` fills the table with caseload-shaped rows (pseudonym, a
name, area, status, two dates, a count) so memory compares like with like.
"""

from __future__ import annotations

import random

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Footer, Header

COLUMNS = ("id", "name", "area", "status", "last", "next", "refs")
_FIRST = "Adrian Andre Angel Carlos Daniel Diego Elena Gabriela Isabel Jasmine Jose Luis Maria Rosa".split()
_LAST = "Baca Chavez Garcia Lopez Lucero Martinez Montoya Padilla Sanchez Trujillo Vigil Yazzie".split()
_AREAS = "Southeast Northeast Northwest Foothills Southwest Valley N/A".split()


def fake_rows(count: int, seed: int = 1) -> list[tuple[str, ...]]:
    rng = random.Random(seed)
    return [
        (
            f"VIP-{rng.getrandbits(24):06X}",
            f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            rng.choice(_AREAS),
            "active",
            f"{rng.randrange(1, 60)}d",
            f"in {rng.randrange(0, 9)}d",
            str(rng.randrange(0, 4)),
        )
        for _ in range(count)
    ]


class BareApp(App[int]):
    """Header, DataTable, Footer."""

    def __init__(self, rows: int = 0) -> None:
        super().__init__()
        self.row_count = rows

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        if self.row_count:
            table.add_rows(fake_rows(self.row_count))
        table.focus()


if __name__ == "__main__":
    BareApp(rows=50).run()
