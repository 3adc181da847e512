"""Write scope: which changes a device may make, checked for every change when the coordinator
merges a laptop's bundle.

A signature proves which device sent a change; the scope says whether that device may make it.
A device serves the worker its roster entry names (the coordinator binds it at approval); the
coordinator's own device may write everything. For a worker's device (worker W):

| table | a new record is in scope when | a change to a record the coordinator has is in scope when |
| --- | --- | --- |
| worker (staff) | it is W's own row, role `worker` | W's own row, `display_name` only (never role, active, another's name) |
| client | `assigned_worker_id` = W | the client is assigned to W; never `assigned_worker_id`, never `id`-links |
| client_identity | its client is assigned to W | its client is assigned to W |
| contact, notification_attempt, assessment, outcome, referral | its client is assigned to W and it is attributed to W (`worker_id`, `recorded_by`, `assessed_by`, `created_by`) | only the tombstone `deleted_at` (facts are add-only; referral: its fields), client assigned to W |
| assessment_item, referral_event | its assessment / referral is of a client assigned to W (event `by_worker` = W) | only `deleted_at`, as above |
| follow_up | its client is assigned to W, `owner_id` = W | client assigned to W; `owner_id` / `done_by` only ever W |
| provider (directory) | allowed (a laptop's referral may name a provider it added) | never: the directory is the coordinator's |
| fact_correction | its client is assigned to W, `by_worker` = W | only `deleted_at`, as above |
| consent | its client is assigned to W, `recorded_by` = W (`withdrawn_by` empty or W) | client assigned to W; `withdrawn_by` only ever W |
| safety_plan | its client is assigned to W, `created_by` = `updated_by` = W | client assigned to W; `updated_by` only ever W |
| audit_entry | `worker_id` = W and `device_id` = the device | never |
| review, review_incident, review_candidate, planned_notification (the weekly review) | never: coordinator-owned | never |
| purge | never (only the coordinator purges) | never |

"Assigned to W" is read from the coordinator's records before the bundle (a worker cannot
assign), or, for a client created in the same bundle, from that new record. Whatever is not in
scope is neither applied nor dropped: the merge holds it in the quarantine with the reason.
A worker's tombstone (`deleted_at`) in scope is applied (the record is hidden) and also opened
for review: the coordinator confirms it or restores the record.

Provides `Scope` (the device's binding), `row_problem` (a new record) and `field_problem`
(one field of a record the coordinator has); both return a reason, or None when in scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Who a record is attributed to: always the sending device's worker.
ATTRIBUTION: dict[str, tuple[str, ...]] = {
    "contact": ("worker_id",),
    "notification_attempt": ("recorded_by",),
    "assessment": ("assessed_by",),
    "referral": ("created_by",),
    "referral_event": ("by_worker",),
    "outcome": ("recorded_by",),
    "follow_up": ("owner_id", "done_by"),
    "audit_entry": ("worker_id",),
    "fact_correction": ("by_worker",),
    "consent": ("recorded_by", "withdrawn_by"),
    "safety_plan": ("created_by", "updated_by"),
}
# Attribution columns that are empty until something happens (a follow-up done, a consent withdrawn).
OPTIONAL_ATTRIBUTION = frozenset({"done_by", "withdrawn_by"})
# The column that ties a record to its client (directly, or through its parent record).
CLIENT_LINK: dict[str, str] = {
    "client": "id",
    "client_identity": "client_id",
    "notification_attempt": "client_id",
    "contact": "client_id",
    "assessment": "client_id",
    "assessment_item": "assessment_id",
    "referral": "client_id",
    "referral_event": "referral_id",
    "outcome": "client_id",
    "follow_up": "client_id",
    "fact_correction": "client_id",
    "consent": "client_id",
    "safety_plan": "client_id",
}
# Fields a worker's device may change on the records it may write (besides those tables' other fields).
OWN_STAFF_FIELDS = frozenset({"display_name"})
NEVER_FROM_A_WORKER = frozenset({("client", "assigned_worker_id"), ("client", "pseudonym")})
# The weekly review and the notifications it plans: only the coordinator's device writes them
# (a laptop receives its clients' planned notifications and never sends them back).
COORDINATOR_OWNED = frozenset({"review", "review_incident", "review_candidate", "planned_notification"})


@dataclass(frozen=True)
class Scope:
    """The sending device and the worker its roster entry binds it to."""

    device: str
    worker_id: str
    coordinator: bool = False


def row_problem(
    scope: Scope, tbl: str, row: dict[str, Any], client_owner: str | None, client_exists: bool
) -> str | None:
    """Why a new record from this device is out of scope, or None.

    `client_owner`: the worker the record's client is assigned to (None: unassigned);
    `client_exists`: whether that client is known at all (the merge checks references too).
    """
    if scope.coordinator:
        return None
    w = scope.worker_id
    if tbl in COORDINATOR_OWNED:
        return f"a laptop may not write {tbl.replace('_', ' ')} records (the coordinator's)"
    if tbl == "worker":
        if row.get("id") != w:
            return "a laptop may not add staff members"
        if row.get("role") != "worker":
            return "a laptop may not give a role"
        return None
    if tbl == "provider":
        return None
    if tbl == "audit_entry":
        if row.get("worker_id") != w or row.get("device_id") != scope.device:
            return "an audit entry attributed to another worker or device"
        return None
    if tbl == "client":
        if row.get("assigned_worker_id") != w:
            return "a new client assigned to another worker"
        return None
    for col in ATTRIBUTION.get(tbl, ()):
        value = row.get(col)
        if value is not None and value != w:
            return f"{tbl.replace('_', ' ')} attributed to another worker ({col})"
        if value is None and col not in OPTIONAL_ATTRIBUTION:
            return f"{tbl.replace('_', ' ')} attributed to no worker ({col})"
    if tbl in CLIENT_LINK:
        if not client_exists:
            return None  # a missing reference, reported as such by the merge
        if client_owner != w:
            return "a record about a client assigned to another worker"
        return None
    return f"a laptop may not write {tbl.replace('_', ' ')} records"


def field_problem(
    scope: Scope, tbl: str, col: str, value: Any, client_owner: str | None, add_only: bool, row_id: str
) -> str | None:
    """Why a change to `tbl.col` of a record the coordinator has is out of scope, or None."""
    if scope.coordinator:
        return None
    w = scope.worker_id
    if tbl in COORDINATOR_OWNED:
        return f"a laptop may not change {tbl.replace('_', ' ')} records (the coordinator's)"
    if tbl == "worker":
        if row_id != w:
            return "a laptop may not change another staff member"
        if col not in OWN_STAFF_FIELDS:
            return f"a laptop may not change a staff member's {col.replace('_', ' ')}"
        return None
    if tbl in ("provider", "audit_entry"):
        return f"a laptop may not change {tbl.replace('_', ' ')} records"
    if tbl not in CLIENT_LINK:
        return f"a laptop may not write {tbl.replace('_', ' ')} records"
    if client_owner != w:
        return "a change to a client assigned to another worker"
    if (tbl, col) in NEVER_FROM_A_WORKER:
        return f"a laptop may not change a client's {col.replace('_', ' ')}"
    if col == CLIENT_LINK[tbl] and tbl != "client":
        return "a laptop may not move a record to another client"
    if add_only and col != "deleted_at":
        return None  # ignored by the merge anyway (facts are never edited)
    if col in ATTRIBUTION.get(tbl, ()) and value is not None and value != w:
        return f"{tbl.replace('_', ' ')} attributed to another worker ({col})"
    return None
