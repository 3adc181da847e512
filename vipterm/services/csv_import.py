"""Spreadsheet import of a program's history: clients, custom notifications, contacts, referrals, outcomes.

`import_csv(store, kind, path, dry_run=...)` reads one CSV file (as a spreadsheet saves it),
validates every row, and either reports every problem (row number, column, what is wrong) and
writes nothing, or writes every row in one captured transaction: all or nothing, and each row
lands in the change log like any other write, so the import syncs to the coordinator.

Columns are documented in docs/import-csv.md, with an example file per kind in docs/examples/.
Value rules come from `vipterm.domain` and `services/records.py` (enums matched
case-insensitively by value or label; notes capped; no dates in the future); the rows are then
built the way `records.py` builds them, with the dates the spreadsheet gives instead of "now".

Error messages never repeat the value of an identifying column (names, alias, date of birth,
phone, notes): they may be read over a shoulder or land in a terminal's scrollback.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlmodel import select

from vipterm import domain
from vipterm.domain import ClientStatus, NotificationOutcome, ReferralStatus
from vipterm.errors import NotFound, ValidationError
from vipterm.services import records
from vipterm.services.database import Store
from vipterm.services.records import MAX_NOTE_LENGTH, _advance_status, _pseudonym
from vipterm.store.models import (
    Client,
    ClientIdentity,
    Provider,
    Referral,
    ReferralEvent,
    Worker,
    new_id,
)

KINDS = ("clients", "notifications", "contacts", "referrals", "outcomes")
KIND_ALIASES = {"custom_notifications": "notifications", "notification": "notifications", "client": "clients",
                "contact": "contacts", "referral": "referrals", "outcome": "outcomes"}

# Per kind: (required columns, optional columns), in the order docs/import-csv.md lists them.
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "clients": (
        ("identified_on",),
        ("client", "first_name", "last_name", "aka", "date_of_birth", "phone", "age_group", "area_command",
         "referral_source", "risk_flags", "status", "worker"),
    ),
    "notifications": (
        ("client", "attempted_on", "outcome"),
        ("setting", "area_command", "messages", "team_roles", "note", "worker"),
    ),
    "contacts": (
        ("client", "occurred_at"),
        ("mode", "purpose", "outcome", "duration_min", "area_command", "worker", "note"),
    ),
    "referrals": (
        ("client", "need", "status"),
        ("provider", "category", "sent_on", "accepted_on", "first_service_on", "status_on", "reason", "feedback",
         "worker"),
    ),
    "outcomes": (
        ("client", "kind", "occurred_on"),
        ("source", "note", "worker"),
    ),
}

# Columns whose values identify a person: never echoed in an error message.
IDENTIFYING = frozenset({"first_name", "last_name", "aka", "date_of_birth", "phone", "note", "feedback", "reason"})

# Formats spreadsheets export dates in (US month-first where the order is ambiguous).
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%Y/%m/%d", "%d-%b-%Y", "%d-%b-%y", "%b %d, %Y", "%B %d, %Y",
                "%d %b %Y", "%d %B %Y", "%m-%d-%Y")
TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M:%S %p", "%I:%M%p")
# Events imported with a date only are placed at noon, so a time zone never moves them a day.
NOON = time(12, 0)
DATE_HELP = "use YYYY-MM-DD or MM/DD/YYYY"


@dataclass(frozen=True)
class RowError:
    row: int  # the spreadsheet's row number: the header is row 1
    column: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class ImportResult:
    kind: str
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    written: int = 0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        return {"kind": self.kind, "rows": self.rows, "dry_run": self.dry_run, "written": self.written,
                "errors": [{"row": e.row, "column": e.column, "message": e.message} for e in self.errors]}


class _RowProblems(Exception):
    pass


# --- parsing values -------------------------------------------------------------------------------


def parse_date(text_value: str) -> date:
    value = " ".join(text_value.strip().split())
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    # Spreadsheets often export a date cell as a datetime at midnight.
    try:
        return parse_datetime(value).replace(tzinfo=None).date()
    except ValueError:
        raise ValueError(DATE_HELP) from None


def parse_datetime(text_value: str) -> datetime:
    """A spreadsheet's date and time. With an offset (`2022-11-30T20:00-07:00`) the result is
    aware and keeps it; without one it is naive: a wall time in the program's zone."""
    value = " ".join(text_value.strip().replace("T", " ").split())
    if ":" in value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    for date_fmt in DATE_FORMATS:
        for time_fmt in TIME_FORMATS:
            try:
                return datetime.strptime(value, f"{date_fmt} {time_fmt}")
            except ValueError:
                continue
    for date_fmt in DATE_FORMATS:
        try:
            return datetime.combine(datetime.strptime(value, date_fmt).date(), NOON)
        except ValueError:
            continue
    raise ValueError("use YYYY-MM-DD HH:MM, MM/DD/YYYY HH:MM or a date alone")


def _normalise_word(text_value: str) -> str:
    return re.sub(r"[\s\-/_.]+", "_", text_value.strip().lower()).strip("_")


def match_enum(enum_cls, text_value: str):
    """A member by value or label, ignoring case, spaces, hyphens and slashes; ValueError if none."""
    wanted = _normalise_word(text_value)
    for member in enum_cls:
        if wanted in (_normalise_word(member.value), _normalise_word(member.label)):
            return member
    raise ValueError(text_value)


class _Row:
    """One data row: typed getters that collect problems instead of stopping at the first."""

    def __init__(self, number: int, values: dict[str, str]):
        self.number = number
        self.values = values
        self.errors: list[RowError] = []

    def error(self, column: str, message: str) -> None:
        self.errors.append(RowError(self.number, column, message))

    def text(self, column: str, *, required: bool = False, limit: int = 200) -> str:
        value = (self.values.get(column) or "").strip()
        if required and not value:
            self.error(column, "is empty")
        if len(value) > limit:
            self.error(column, f"is longer than {limit} characters")
        return value

    def note(self, column: str = "note") -> str:
        return self.text(column, limit=MAX_NOTE_LENGTH)

    def enum(self, column: str, enum_cls, default=None, *, required: bool = False):
        value = (self.values.get(column) or "").strip()
        if not value:
            if required:
                self.error(column, f"is empty; accepted: {', '.join(m.value for m in enum_cls)}")
            return default
        try:
            return match_enum(enum_cls, value)
        except ValueError:
            shown = "the value" if column in IDENTIFYING else repr(value)
            self.error(column, f"{shown} is not one of: {', '.join(m.value for m in enum_cls)}")
            return default

    def enum_list(self, column: str, enum_cls) -> list:
        value = (self.values.get(column) or "").strip()
        out = []
        for part in value.replace(";", ",").split(","):
            if part.strip():
                member = self._one(column, enum_cls, part)
                if member is not None and member not in out:
                    out.append(member)
        return out

    def _one(self, column, enum_cls, part):
        try:
            return match_enum(enum_cls, part)
        except ValueError:
            self.error(column, f"{part.strip()!r} is not one of: {', '.join(m.value for m in enum_cls)}")
            return None

    def date(self, column: str, *, required: bool = False, today: date) -> date | None:
        value = (self.values.get(column) or "").strip()
        if not value:
            if required:
                self.error(column, f"is empty ({DATE_HELP})")
            return None
        try:
            day = parse_date(value)
        except ValueError:
            shown = "the value" if column in IDENTIFYING else repr(value)
            self.error(column, f"{shown} is not a date ({DATE_HELP})")
            return None
        if day > today:
            self.error(column, "is in the future")
        elif day.year < 1900:
            self.error(column, "is before 1900")
        return day

    def datetime(self, column: str, *, required: bool = False, now: datetime, clock) -> datetime | None:
        value = (self.values.get(column) or "").strip()
        if not value:
            if required:
                self.error(column, "is empty (use YYYY-MM-DD HH:MM or MM/DD/YYYY HH:MM)")
            return None
        try:
            when = clock.to_utc(parse_datetime(value))  # stored UTC; no offset = program time
        except (ValueError, OverflowError) as exc:
            self.error(column, f"{value!r} is not a date and time ({exc})")
            return None
        if when > now + timedelta(minutes=5):
            self.error(column, "is in the future")
        elif when.year < 1900:
            self.error(column, "is before 1900")
        return when

    def integer(self, column: str, low: int, high: int) -> int | None:
        value = (self.values.get(column) or "").strip()
        if not value:
            return None
        try:
            number = int(float(value)) if value.replace(".", "", 1).isdigit() else int(value)
        except ValueError:
            self.error(column, f"{value!r} is not a whole number")
            return None
        if not low <= number <= high:
            self.error(column, f"must be between {low} and {high}")
            return None
        return number


# --- reading the file ---------------------------------------------------------------------------


def _normalise_header(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_").lstrip("\ufeff")


def read_rows(path: Path) -> tuple[list[str], list[_Row]]:
    """Header and rows of a CSV file saved by a spreadsheet (UTF-8 with or without BOM, or Windows-1252)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ValidationError(f"no file at {path}", field="file") from None
    except IsADirectoryError:
        raise ValidationError(f"{path} is a folder, not a CSV file", field="file") from None
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}", field="file") from None
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        content = raw.decode("cp1252", errors="replace")
    if not content.strip():
        raise ValidationError(f"{path} is empty", field="file")
    try:
        dialect = csv.Sniffer().sniff(content[:4096], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        header = [_normalise_header(h) for h in next(reader)]
        rows = []
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue  # blank lines at the end of a sheet
            values = {header[i]: cells[i] for i in range(min(len(header), len(cells)))}
            row = _Row(number, values)
            if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
                row.error("", f"has {len(cells)} cells but the header has {len(header)} columns")
            rows.append(row)
    except csv.Error as exc:
        raise ValidationError(f"{path} is not a readable CSV file ({exc})", field="file") from None
    return header, rows


def _check_header(kind: str, header: list[str]) -> list[RowError]:
    required, optional = COLUMNS[kind]
    errors = []
    known = set(required) | set(optional)
    for name in header:
        if name and name not in known:
            errors.append(RowError(1, name, f"is not a column of a {kind} file; accepted: {', '.join(required + optional)}"))
    for name in required:
        if name not in header:
            errors.append(RowError(1, name, "is required and missing from the header"))
    if len(set(h for h in header if h)) != len([h for h in header if h]):
        errors.append(RowError(1, "", "a column appears twice in the header"))
    return errors


# --- what each kind builds ------------------------------------------------------------------------


class _Context:
    """What rows refer to: clients by pseudonym (or id), workers and providers by name."""

    def __init__(self, store: Store):
        self.store = store
        self.clock = store.clock
        self.now = store.clock.utcnow()
        self.today = store.clock.today()
        with store.read() as session:
            self.clients = {}
            for cid, pseudonym, area in session.exec(
                select(Client.id, Client.pseudonym, Client.area_command).where(Client.deleted_at.is_(None))
            ):
                self.clients[pseudonym.upper()] = (cid, area)
                self.clients[cid.upper()] = (cid, area)
            self.workers = {}
            for wid, name in session.exec(select(Worker.id, Worker.display_name).where(Worker.deleted_at.is_(None))):
                self.workers.setdefault(name.strip().lower(), wid)
            self.providers = {}
            for pid, name, category in session.exec(
                select(Provider.id, Provider.name, Provider.category).where(Provider.deleted_at.is_(None))
            ):
                self.providers.setdefault(name.strip().lower(), (pid, category))
        self.planned_providers: dict[str, tuple[None, str]] = {}
        self.new_providers: dict[str, Provider] = {}

    def client(self, row: _Row) -> tuple[str, str] | None:
        key = row.text("client", required=True)
        if not key:
            return None
        found = self.clients.get(key.upper())
        if found is None:
            row.error("client", f"{key!r} is not a client in this database (import the clients file first)")
        return found

    def worker(self, row: _Row) -> str:
        name = row.text("worker")
        if not name:
            return self.store.worker_id
        wid = self.workers.get(name.lower())
        if wid is None:
            row.error("worker", "is not a worker on this database (add the worker, or leave the column empty)")
            return self.store.worker_id
        return wid


def _at(ctx: "_Context", day: date) -> datetime:
    """A row that gives only a day happened at noon, program time (stored UTC)."""
    return ctx.clock.to_utc(datetime.combine(day, NOON))


def _build_client(ctx: _Context, row: _Row, seen: set[str]):
    identified_on = row.date("identified_on", required=True, today=ctx.today)
    first, last, aka = row.text("first_name"), row.text("last_name"), row.text("aka")
    if not (first or last or aka):
        row.error("first_name", "a name or an alias is required (first_name, last_name or aka)")
    dob = row.date("date_of_birth", today=ctx.today)
    phone = row.text("phone", limit=40)
    area = row.enum("area_command", domain.AreaCommand, domain.AreaCommand.NA)
    source = row.enum("referral_source", domain.ReferralSource, domain.ReferralSource.OTHER)
    flags = row.enum_list("risk_flags", domain.RiskFlag)
    status = row.enum("status", ClientStatus, ClientStatus.IDENTIFIED)
    age_group = row.enum("age_group", domain.AgeGroup)
    if age_group is None and identified_on is not None:
        age_group = domain.age_group_for(dob, identified_on)
    worker_id = ctx.worker(row)
    pseudonym = row.text("client", limit=40)
    if pseudonym:
        if pseudonym.upper() in ctx.clients:
            row.error("client", f"{pseudonym!r} is already a client in this database")
        elif pseudonym.upper() in seen:
            row.error("client", f"{pseudonym!r} appears twice in the file")
        seen.add(pseudonym.upper())
    if row.errors:
        return None

    def make(session):
        client = Client(age_group=age_group.value, area_command=area.value, referral_source=source.value,
                        status=status.value, risk_flags=",".join(f.value for f in flags),
                        assigned_worker_id=worker_id, identified_on=identified_on, pseudonym="",
                        created_at=_at(ctx, identified_on))
        client.pseudonym = pseudonym or _pseudonym(client.id)
        session.add(client)
        session.add(ClientIdentity(client_id=client.id, first_name=first, last_name=last, aka=aka,
                                   date_of_birth=dob, phone=phone))
    return make


def _build_notification(ctx: _Context, row: _Row, seen):
    found = ctx.client(row)
    attempted_on = row.date("attempted_on", required=True, today=ctx.today)
    outcome = row.enum("outcome", NotificationOutcome, required=True)
    setting = row.enum("setting", domain.NotificationSetting, domain.NotificationSetting.HOME)
    area = row.enum("area_command", domain.AreaCommand)
    messages = row.enum_list("messages", domain.NotificationMessage)
    roles = row.enum_list("team_roles", domain.TeamRole)
    note = row.note()
    worker_id = ctx.worker(row)
    if row.errors:
        return None
    client_id, client_area = found

    def make(session):
        # The app's own rules and effects (funnel, first follow-up), with the history's dates.
        records.record_notification(ctx.store, records.NotificationDraft(
            client_id=client_id, attempted_on=attempted_on, outcome=outcome.value, setting=setting.value,
            area_command=(area.value if area else client_area),
            # Imported history names roles only: the people on the team are not in the spreadsheet.
            team=[(r.label, r.value) for r in roles], messages=[m.value for m in messages], note=note,
            confirm_same_day=True, recorded_by=worker_id, as_recorded=True), session=session)
    return make


def _build_contact(ctx: _Context, row: _Row, seen):
    found = ctx.client(row)
    occurred_at = row.datetime("occurred_at", required=True, now=ctx.now, clock=ctx.clock)
    mode = row.enum("mode", domain.ContactMode, domain.ContactMode.IN_PERSON)
    purpose = row.enum("purpose", domain.ContactPurpose, domain.ContactPurpose.CHECK_IN)
    # No default: a spreadsheet row that does not say the client was reached is not "reached".
    outcome = row.enum("outcome", domain.ContactOutcome, required=True)
    duration = row.integer("duration_min", 0, 24 * 60)
    area = row.enum("area_command", domain.AreaCommand)
    worker_id = ctx.worker(row)
    note = row.note()
    if row.errors:
        return None
    client_id, client_area = found

    def make(session):
        # Through the app's own service: a reached contact closes the follow-ups due by its day.
        records.log_contact(ctx.store, records.ContactDraft(
            client_id=client_id, occurred_at=occurred_at, mode=mode.value, purpose=purpose.value,
            outcome=outcome.value, duration_min=duration, area_command=(area.value if area else client_area),
            note=note, worker_id=worker_id), session=session)
    return make


# The statuses a referral passes through before each final status, when imported from one row.
_AFTER_ACCEPTED = {ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS, ReferralStatus.ON_HOLD,
                   ReferralStatus.COMPLETED, ReferralStatus.FAILED}
_NEEDS_STATUS_ON = {ReferralStatus.REJECTED, ReferralStatus.ON_HOLD, ReferralStatus.COMPLETED,
                    ReferralStatus.FAILED, ReferralStatus.CANCELLED}


def _build_referral(ctx: _Context, row: _Row, seen):
    found = ctx.client(row)
    need = row.enum("need", domain.NeedDomain, required=True)
    status = row.enum("status", ReferralStatus, required=True)
    category = row.enum("category", domain.ServiceCategory)
    provider_name = row.text("provider")
    sent_on = row.date("sent_on", today=ctx.today)
    accepted_on = row.date("accepted_on", today=ctx.today)
    first_service_on = row.date("first_service_on", today=ctx.today)
    status_on = row.date("status_on", today=ctx.today)
    reason = row.note("reason")
    feedback = row.note("feedback")
    worker_id = ctx.worker(row)

    provider_id = None
    if provider_name:
        known = ctx.providers.get(provider_name.lower()) or ctx.planned_providers.get(provider_name.lower())
        if known is None and category is not None:
            # Added to the directory by this import; later rows may name it without a category.
            ctx.planned_providers[provider_name.lower()] = (None, category.value)
        elif known is not None:
            provider_id = known[0]
            if category is not None and category.value != known[1]:
                row.error("category", f"the provider {provider_name!r} is in the directory as {known[1]}")
        elif category is None:
            row.error("provider", f"{provider_name!r} is not in the service directory; give its category to add it")
    elif status is not None and status is not ReferralStatus.DRAFT:
        row.error("provider", "is empty: a sent referral names its provider")

    events: list[tuple[ReferralStatus, date]] = []
    if status is not None:
        if status is not ReferralStatus.DRAFT and sent_on is None:
            row.error("sent_on", f"is needed for a {status.label} referral ({DATE_HELP})")
        if status in _AFTER_ACCEPTED and accepted_on is None and status is not ReferralStatus.FAILED:
            row.error("accepted_on", f"is needed for a {status.label} referral ({DATE_HELP})")
        if status in _NEEDS_STATUS_ON and status_on is None:
            row.error("status_on", f"is needed for a {status.label} referral: the day it became {status.label}")
        if status in (ReferralStatus.REJECTED, ReferralStatus.FAILED, ReferralStatus.CANCELLED) and not reason:
            row.error("reason", f"say why the referral is {status.label}")
        start = sent_on or status_on or accepted_on
        if start is not None:
            events.append((ReferralStatus.DRAFT, start))
        if sent_on is not None:
            events.append((ReferralStatus.SENT, sent_on))
        if accepted_on is not None:
            events.append((ReferralStatus.ACCEPTED, accepted_on))
        if status in (ReferralStatus.IN_PROGRESS, ReferralStatus.ON_HOLD, ReferralStatus.COMPLETED) or (
                status is ReferralStatus.FAILED and first_service_on is not None):
            events.append((ReferralStatus.IN_PROGRESS, first_service_on or accepted_on or sent_on))
        if status in _NEEDS_STATUS_ON and status_on is not None:
            events.append((status, status_on))
        for (before, day_before), (after, day_after) in zip(events, events[1:]):
            if day_before is not None and day_after is not None and day_after < day_before:
                row.error("", f"the referral cannot become {after.label} ({day_after}) before it was "
                              f"{before.label} ({day_before})")
                break
            if not domain.can_transition(before, after):
                hint = "; give accepted_on" if before is ReferralStatus.SENT else ""
                row.error("status", f"a referral cannot go from {before.label} to {after.label}{hint}")
                break
        if not events:
            row.error("status_on", f"is needed: the day the referral was made ({DATE_HELP})")
        elif first_service_on is not None and not any(st is ReferralStatus.IN_PROGRESS for st, _ in events):
            row.error("first_service_on", f"is given but a {status.label} referral has not started")
        if not row.errors and events and events[-1][0] is not status:
            row.error("status", f"the dates given do not lead to {status.label}")
    if row.errors:
        return None
    client_id, _area = found

    def make(session):
        nonlocal provider_id
        if provider_id is None and provider_name:
            key = provider_name.lower()
            provider = ctx.new_providers.get(key)
            if provider is None:
                provider = Provider(name=provider_name, category=ctx.planned_providers[key][1])
                session.add(provider)
                ctx.new_providers[key] = provider
            provider_id = provider.id
        last_at = _at(ctx, events[-1][1])
        served_on = next((d for st, d in events if st is ReferralStatus.IN_PROGRESS), None)
        referral = Referral(client_id=client_id, need_domain=need.value, provider_id=provider_id, status=status.value,
                            status_changed_at=last_at, first_service_on=served_on, feedback=feedback,
                            created_by=worker_id, created_at=_at(ctx, events[0][1]))
        session.add(referral)
        for n, (st, day) in enumerate(events):
            # Events of one day keep their order: a second apart.
            session.add(ReferralEvent(id=new_id(), referral_id=referral.id, status=st.value,
                                      at=_at(ctx, day) + timedelta(seconds=n), by_worker=worker_id,
                                      reason=reason if st is status else ""))
        if any(st in domain.ENGAGED_REFERRAL_STATUSES for st, _ in events):
            _advance_status(session.get(Client, client_id), ClientStatus.ENGAGED)
    return make


def _build_outcome(ctx: _Context, row: _Row, seen):
    found = ctx.client(row)
    kind = row.enum("kind", domain.OutcomeKind, required=True)
    occurred_on = row.date("occurred_on", required=True, today=ctx.today)
    source = row.enum("source", domain.OutcomeSource, domain.OutcomeSource.WORKER)
    note = row.note()
    worker_id = ctx.worker(row)
    if row.errors:
        return None
    client_id, _area = found

    def make(session):
        records.record_outcome(ctx.store, client_id, kind.value, occurred_on, source.value, note,
                               recorded_by=worker_id, session=session)
    return make


_BUILDERS = {"clients": _build_client, "notifications": _build_notification, "contacts": _build_contact,
             "referrals": _build_referral, "outcomes": _build_outcome}


def parse_kind(kind: str) -> str:
    key = kind.strip().lower().replace("-", "_")
    key = KIND_ALIASES.get(key, key)
    if key not in KINDS:
        raise ValidationError(f"{kind!r} is not a kind of import; accepted: {', '.join(KINDS)}", field="kind")
    return key


def import_csv(store: Store, kind: str, path: Path, *, dry_run: bool = False) -> ImportResult:
    """Validate every row; unless `dry_run` or any row is wrong, write them all in one transaction."""
    kind = parse_kind(kind)
    header, rows = read_rows(Path(path))
    result = ImportResult(kind=kind, rows=len(rows), dry_run=dry_run)
    result.errors += _check_header(kind, header)
    if result.errors:
        return result
    if not rows:
        raise ValidationError(f"{path} has a header but no rows", field="file")
    ctx = _Context(store)
    build = _BUILDERS[kind]
    seen: set[str] = set()
    makers = []
    for row in rows:
        maker = build(ctx, row, seen)
        result.errors += row.errors
        makers.append((row, maker))
    if result.errors:
        return result
    # Every row is written through the services in one transaction; a row the services refuse is
    # reported like a parse error, and then (as for a dry run) the whole transaction is undone.
    try:
        with store.write() as session:
            for n, (row, make) in enumerate(makers, 1):
                try:
                    make(session)
                except (ValidationError, NotFound) as exc:
                    result.errors.append(RowError(row.number, _column_of(kind, getattr(exc, "field", None)),
                                                  str(exc)))
                if n % 2000 == 0:
                    session.flush()  # bounded memory; still one transaction
            if result.errors or dry_run:
                raise _UndoImport
    except _UndoImport:
        return result
    result.written = len(makers)
    return result


class _UndoImport(Exception):
    """Raised inside the import's transaction to roll all of it back (a dry run, or a row refused)."""


# A service's field name where it differs from the spreadsheet's column.
_SERVICE_FIELDS = {"team": "team_roles", "need_domain": "need", "client_id": "client"}


def _column_of(kind: str, field_name: str | None) -> str:
    if not field_name:
        return ""
    column = _SERVICE_FIELDS.get(field_name, field_name)
    required, optional = COLUMNS[kind]
    return column if column in required or column in optional else ""
