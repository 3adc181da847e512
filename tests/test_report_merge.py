"""The report on a coordinator's database after merging laptops' bundles equals the report on one
database holding the same records — with the history brought in by spreadsheet import on the
laptops (so imported rows demonstrably sync like typed-in ones)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PASSPHRASE
from tests.sync_support import exchange, new_coordinator, new_enrolled_worker
from tests.test_report_fixture import CLIENTS, CONTACTS, NOTIFICATIONS, OUTCOMES, REFERRALS
from tests.test_sync_flow import _copy_rows_into
from vipterm.services.csv_import import import_csv
from vipterm.services.database import create_store
from vipterm.services.report import build_report
from vipterm.services.report_render import render

FILES = {
    "clients": CLIENTS,
    "notifications": NOTIFICATIONS,
    "contacts": CONTACTS,
    "referrals": REFERRALS,
    "outcomes": OUTCOMES,
}
# Each laptop holds its own people (E and G share a provider added by E's row).
LAPTOP_PEOPLE = (("VIP-A01", "VIP-B02", "VIP-C03", "VIP-D04"), ("VIP-E05", "VIP-F06", "VIP-G07", "VIP-H08"))


def _rows_for(content: str, people: tuple[str, ...]) -> str:
    header, *rows = content.strip().splitlines()
    keep = [r for r in rows if r.split(",")[0] in people]
    if header.endswith(",worker"):  # the contacts are the laptop's own worker's
        keep = [r.rsplit(",", 1)[0] + "," for r in keep]
    return "\n".join([header, *keep]) + "\n"


def _import_history(store, people, folder: Path) -> None:
    folder.mkdir()
    for kind, content in FILES.items():
        path = folder / f"{kind}.csv"
        path.write_text(_rows_for(content, people), encoding="utf-8")
        result = import_csv(store, kind, path)
        assert result.errors == [], [str(e) for e in result.errors]


def test_coordinator_report_after_merge_equals_one_database(tmp_path):
    coord = new_coordinator(tmp_path / "coordinator.db")
    laptops = [new_enrolled_worker(coord, tmp_path / f"laptop{i}.db", f"Laptop {i}") for i in (1, 2)]
    reference = None
    try:
        exchange(coord, laptops, tmp_path / "r0")
        for i, (laptop, people) in enumerate(zip(laptops, LAPTOP_PEOPLE)):
            _import_history(laptop, people, tmp_path / f"history{i}")
        exchange(coord, laptops, tmp_path / "r1")
        exchange(coord, laptops, tmp_path / "r2")  # laptops get each other's staff; nothing else moves

        reference = create_store(
            tmp_path / "reference.db", PASSPHRASE, worker_name="Coordinator", worker_id=coord.worker_id
        )
        for laptop in laptops:
            _copy_rows_into(laptop, reference)

        for month in ("2022-05", "2022-06", "2022-07", "2022-08", "2022-09"):
            merged, single = build_report(coord, month), build_report(reference, month)
            assert merged == single, month
            for fmt in ("json", "csv", "html"):
                assert render(merged, fmt) == render(single, fmt)
        # Not an empty comparison: the July report is the hand-computed one of test_report_fixture.
        july = build_report(coord, "2022-07")
        assert dict(july.notifications_by_area.total.values) == {
            "m": 2,
            "m1": 2,
            "m2": 3,
            "fytd": 2,
        }  # H is not tombstoned here
        assert [(p.month, p.notified, p.engaged) for p in july.running_success][-1] == ("2022-07", 7, 3)
        assert {r.label: r.values["contacts"] for r in july.contacts_per_worker.rows if r.values["contacts"]} == {
            "Laptop 1": 3,
            "Laptop 2": 1,
        }
        services = {r.key for r in july.services.rows if r.values["fytd"]}
        assert services == {"food", "legal"}  # providers added on a laptop kept their category
    finally:
        for store in (coord, *laptops, *([reference] if reference else [])):
            store.close()
