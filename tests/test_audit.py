"""The audit log (services/audit.py): entries are appended for this device and its worker, read
back newest first with filters; a laptop reads only its own device's entries."""

from __future__ import annotations

from datetime import date

from vipterm import domain
from vipterm.services import audit, records


def test_record_audit_appends_an_entry_for_this_device_and_worker(store):
    records.record_audit(store, domain.AuditAction.EXPORT, None, "report csv")
    audit.record_audit(store, "backup", detail="backup to a folder")
    rows = audit.list_entries(store)
    assert [r.action for r in rows] == ["backup", "export"]
    assert {r.device for r in rows} == {"this device"}
    assert {r.worker for r in rows} == {"Test Worker"}
    assert rows[1].detail == "report csv"
    assert audit.list_entries(store, since=date(2026, 11, 24)) == []
    assert len(audit.list_entries(store, since=date(2026, 11, 23))) == 2


def test_record_audit_in_the_callers_transaction_rolls_back_with_it(store):
    try:
        with store.write() as session:
            audit.record_audit(store, domain.AuditAction.PURGE, detail="purge", session=session)
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    assert audit.list_entries(store) == []
