"""Spreadsheet import of a program's history: clients, custom notifications, contacts, referrals, outcomes.

`import_csv(store, kind, path, dry_run=..., progress=...)` reads one CSV file (as a spreadsheet
saves it), validates every row, recognises rows that are already in the database or repeat an
earlier row of the file (duplicates: reported with a count and skipped, so importing a file twice
changes nothing), and either reports every problem (row number, column, what is wrong) and writes
nothing, or writes the new rows in one captured transaction: all or nothing, and each row lands in
the change log like any other write, so the import syncs to the coordinator.

Rows are written in batches. Clients are inserted in bulk and captured through
`vipterm.sync.capture.record_changes` (one change-log entry per field, as the ORM hook writes).
Notifications, contacts and outcomes go through the app's own services
(`records.record_notification`, `log_contact`, `record_outcome`) inside the one transaction; a
batch never holds two rows of the same client (a client's rows are taken in file order, one per
batch), so the session is flushed once per batch instead of once per row without any row seeing
another's unflushed state.

Columns are documented in docs/import-csv.md, with an example file per kind in docs/examples/.
Value rules come from `vipterm.domain` and `services/records.py` (enums matched by value or label,
ignoring case, spaces, hyphens and other punctuation; notes capped; no dates in the future).

Error messages never repeat the value of an identifying column (names, alias, date of birth,
phone, notes): they may be read over a shoulder or land in a terminal's scrollback.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar, overload

from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from vipterm import domain
from vipterm.domain import ClientStatus, E, LabelledEnum, NotificationOutcome, ReferralStatus
from vipterm.errors import NotFound, ValidationError
from vipterm.progress import NO_PROGRESS, Progress
from vipterm.services import records
from vipterm.services.database import Store
from vipterm.services.records import (
    MAX_NOTE_LENGTH,
    _advance_status,
    _client,
    clean_note,
    new_pseudonym,
)
from vipterm.store.models import (
    Client,
    ClientIdentity,
    Contact,
    FollowUp,
    NotificationAttempt,
    Outcome,
    Provider,
    Referral,
    ReferralEvent,
    Worker,
    new_id,
    table_of,
)
from vipterm.sync.capture import Capture, record_changes, value_processor
from vipterm.timekeeping import ProgramClock

T = TypeVar("T")

KINDS = ("clients", "notifications", "contacts", "referrals", "outcomes")
KIND_ALIASES = {
    "custom_notifications": "notifications",
    "notification": "notifications",
    "client": "clients",
    "contact": "contacts",
    "referral": "referrals",
    "outcome": "outcomes",
}

# Per kind: (required columns, optional columns), in the order docs/import-csv.md lists them.
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "clients": (
        ("identified_on",),
        (
            "client",
            "first_name",
            "last_name",
            "aka",
            "date_of_birth",
            "phone",
            "age_group",
            "area_command",
            "referral_source",
            "risk_flags",
            "status",
            "worker",
        ),
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
        (
            "provider",
            "category",
            "sent_on",
            "accepted_on",
            "first_service_on",
            "status_on",
            "reason",
            "feedback",
            "worker",
        ),
    ),
    "outcomes": (
        ("client", "kind", "occurred_on"),
        ("source", "note", "worker"),
    ),
}

# Columns whose values identify a person: never echoed in an error message.
IDENTIFYING = frozenset({"first_name", "last_name", "aka", "date_of_birth", "phone", "note", "feedback", "reason"})

# Formats spreadsheets export dates in (US month-first where the order is ambiguous).
DATE_FORMATS = (
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%m/%d/%y",
    "%Y/%m/%d",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d %b %Y",
    "%d %B %Y",
    "%m-%d-%Y",
)
TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M:%S %p", "%I:%M%p")
# Events imported with a date only are placed at noon, so a time zone never moves them a day.
NOON = time(12, 0)
DATE_HELP = "use YYYY-MM-DD or MM/DD/YYYY"
# Rows written per batch: one flush (and one change-log stamp) each; bounded memory.
BATCH_ROWS = 2000


class ImportStatus(str, enum.Enum):
    """What an import did: the machine value of `ImportResult.status` (and of `--json`)."""

    IMPORTED = "imported"  # the new rows were written (possibly none: every row was a duplicate)
    CHECKED = "checked"  # a dry run without problems: nothing was written
    REFUSED = "refused"  # problems were found: nothing was written


@dataclass(frozen=True)
class RowError:
    row: int  # the spreadsheet's row number: the header is row 1
    column: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return _printable(f"{where}: {self.message}")


def _printable(text: str) -> str:
    """A message safe to print: a header or value from the file may hold control characters
    (a binary file, or an escape sequence aimed at the terminal); they are shown escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


@dataclass(frozen=True)
class Duplicate:
    """A row that is skipped: already in the database, or a repeat of an earlier row of the file."""

    row: int
    repeats_row: int | None = None  # the earlier row of the same file; None = already in the database

    def __str__(self) -> str:
        if self.repeats_row is None:
            return f"row {self.row}: already in the database; skipped"
        return f"row {self.row}: repeats row {self.repeats_row}; skipped"


@dataclass
class ImportResult:
    kind: str
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    written: int = 0
    dry_run: bool = False
    duplicates: list[Duplicate] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def status(self) -> ImportStatus:
        if self.errors:
            return ImportStatus.REFUSED
        return ImportStatus.CHECKED if self.dry_run else ImportStatus.IMPORTED

    @property
    def rows_with_problems(self) -> int:
        """Data rows with at least one problem (a header problem is not a row's)."""
        return len({e.row for e in self.errors if e.row > 1})

    @property
    def header_problems(self) -> int:
        return sum(1 for e in self.errors if e.row == 1)

    @property
    def in_database(self) -> int:
        return sum(1 for d in self.duplicates if d.repeats_row is None)

    @property
    def repeated_in_file(self) -> int:
        return sum(1 for d in self.duplicates if d.repeats_row is not None)

    @property
    def new_rows(self) -> int:
        """Rows that are neither duplicates nor wrong: what a real run writes."""
        return self.rows - len(self.duplicates) - self.rows_with_problems

    def as_dict(self) -> dict[str, Any]:
        """The result as data (the `--json` shape of import-csv, see docs/import-csv.md)."""
        return {
            "kind": self.kind,
            "status": self.status,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "written": self.written,
            "new": max(self.new_rows, 0) if not self.errors else None,
            "duplicates": len(self.duplicates),
            "already_in_database": self.in_database,
            "repeated_in_file": self.repeated_in_file,
            "rows_with_problems": self.rows_with_problems,
            "problems": [{"row": e.row, "column": e.column, "message": e.message} for e in self.errors],
            "duplicate_rows": [{"row": d.row, "repeats_row": d.repeats_row} for d in self.duplicates],
        }


# --- parsing values -------------------------------------------------------------------------------


_NOT_ASCII_ALNUM = re.compile(r"[^0-9a-z]+")


def fold(text_value: str) -> str:
    """The matching key of a header, a listed value or a name: case, accents, spaces, hyphens,
    underscores and other punctuation ignored (`South-East` = `south east` = `SOUTHEAST`)."""
    if text_value.isascii():
        return _NOT_ASCII_ALNUM.sub("", text_value.lower())
    decomposed = unicodedata.normalize("NFKD", text_value)
    return "".join(c for c in decomposed.casefold() if c.isalnum())


def parse_date(text_value: str) -> date:
    value = " ".join(text_value.strip().split())
    if len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:  # the usual export, without strptime's cost (a history has hundreds of thousands)
            return date(int(value[:4]), int(value[5:7]), int(value[8:]))
        except ValueError:
            pass
    month, _, rest = value.partition("/")
    day_text, _, year = rest.partition("/")
    if (
        len(year) == 4
        and 0 < len(month) <= 2
        and 0 < len(day_text) <= 2
        and (digits := month + day_text + year).isascii()
        and digits.isdigit()
    ):
        try:  # US spreadsheets' M/D/YYYY, as strptime's %m/%d/%Y reads it
            return date(int(year), int(month), int(day_text))
        except ValueError:
            pass
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


# Per list: its members by spelling (each list's dict holds members of that list only).
_ENUM_KEYS: dict[type[LabelledEnum], dict[str, Any]] = {}


def match_enum(enum_cls: type[E], text_value: str) -> E:
    """A member by value or label, ignoring case, spaces, hyphens and punctuation; ValueError if none."""
    keys = _ENUM_KEYS.get(enum_cls)
    if keys is None:
        keys = _ENUM_KEYS[enum_cls] = {}
        for each in enum_cls:
            keys.setdefault(fold(each.value), each)
            keys.setdefault(fold(each.label), each)
    member: E | None = keys.get(text_value)  # as written before: the same spelling recurs row after row
    if member is None:
        member = keys.get(fold(text_value))
        if member is None:
            raise ValueError(text_value)
        keys[text_value] = member
    return member


def accepted(enum_cls: type[LabelledEnum]) -> str:
    """The accepted values of a list, as people read them (labels: `N/A`, `not found`)."""
    return ", ".join(m.label for m in enum_cls)


class _Row:
    """One data row: typed getters that collect problems instead of stopping at the first."""

    __slots__ = ("errors", "number", "values")

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

    @overload
    def enum(self, column: str, enum_cls: type[E], default: E, *, required: bool = False) -> E: ...

    @overload
    def enum(self, column: str, enum_cls: type[E], default: None = None, *, required: bool = False) -> E | None: ...

    def enum(self, column: str, enum_cls: type[E], default: E | None = None, *, required: bool = False) -> E | None:
        value = (self.values.get(column) or "").strip()
        if not value:
            if required:
                self.error(column, f"is empty; accepted: {accepted(enum_cls)}")
            return default
        try:
            return match_enum(enum_cls, value)
        except ValueError:
            shown = "the value" if column in IDENTIFYING else repr(value)
            self.error(column, f"{shown} is not one of: {accepted(enum_cls)}")
            return default

    def enum_list(self, column: str, enum_cls: type[E]) -> list[E]:
        value = (self.values.get(column) or "").strip()
        out: list[E] = []
        for part in value.replace(";", ",").split(","):
            if part.strip():
                member = self._one(column, enum_cls, part)
                if member is not None and member not in out:
                    out.append(member)
        return out

    def _one(self, column: str, enum_cls: type[E], part: str) -> E | None:
        try:
            return match_enum(enum_cls, part)
        except ValueError:
            self.error(column, f"{part.strip()!r} is not one of: {accepted(enum_cls)}")
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

    def datetime(self, column: str, *, required: bool = False, now: datetime, clock: ProgramClock) -> datetime | None:
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


def header_name(cell: str, kind: str) -> str:
    """The column a header cell names: matched ignoring case, spaces, hyphens and underscores
    (`IdentifiedOn`, `identified on`, `Identified-On` = `identified_on`); an unknown one is kept
    as written (stripped), for the message that refuses it."""
    required, optional = COLUMNS[kind]
    cell = cell.lstrip("\ufeff").strip()
    key = fold(cell)
    for column in required + optional:
        if fold(column) == key:
            return column
    return cell


def read_rows(path: Path, kind: str) -> tuple[list[str], list[_Row]]:
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
        header = [header_name(h, kind) for h in next(reader)]
        width = len(header)
        rows: list[_Row] = []
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue  # blank lines at the end of a sheet
            row = _Row(number, dict(zip(header, cells)))
            if len(cells) > width and any(c.strip() for c in cells[width:]):
                row.error("", f"has {len(cells)} cells but the header has {width} columns")
            rows.append(row)
    except csv.Error as exc:
        raise ValidationError(f"{path} is not a readable CSV file ({exc})", field="file") from None
    return header, rows


def _check_header(kind: str, header: list[str]) -> list[RowError]:
    required, optional = COLUMNS[kind]
    errors: list[RowError] = []
    known = set(required) | set(optional)
    for name in header:
        if name and name not in known:
            errors.append(
                RowError(1, name, f"is not a column of a {kind} file; accepted: {', '.join(required + optional)}")
            )
    for name in required:
        if name not in header:
            errors.append(RowError(1, name, "is required and missing from the header"))
    if len(set(h for h in header if h)) != len([h for h in header if h]):
        errors.append(RowError(1, "", "a column appears twice in the header"))
    return errors


# --- what each kind builds ------------------------------------------------------------------------


@dataclass
class _Planned:
    """A valid row, ready to write: what makes it the same record as another (`key`), whose it is
    (`client_id`: a batch holds one row per client), and how it is written."""

    row: _Row
    key: tuple[Any, ...]
    client_id: str | None = None
    write: Callable[[Session], None] | None = None  # through the services, in the import's session
    data: tuple[dict[str, Any], dict[str, Any]] | None = None  # clients: the client and identity rows, inserted in bulk


# Folded first name, last name and alias, date of birth, day identified.
IdentityKey = tuple[str, str, str, date | None, date | None]


def _identity_key(first: str, last: str, aka: str, dob: date | None, identified_on: date | None) -> IdentityKey:
    """How a client without a case id is recognised: folded names and alias, date of birth and the
    day they were identified."""
    return (fold(first), fold(last), fold(aka), dob, identified_on)


class _Context:
    """What rows refer to: clients by pseudonym (or id), workers and providers by name."""

    def __init__(self, store: Store, kind: str):
        self.store = store
        self.clock = store.clock
        self.now = store.clock.utcnow()
        self.today = store.clock.today()
        self.identities: dict[str, IdentityKey] = {}  # clients kind: client id -> identity key
        with store.read() as session:
            self.clients: dict[str, tuple[str, str]] = {}
            for cid, pseudonym, area in session.exec(
                select(Client.id, Client.pseudonym, Client.area_command).where(col(Client.deleted_at).is_(None))
            ):
                self.clients[pseudonym.upper()] = (cid, area)
                self.clients[cid.upper()] = (cid, area)
            if kind == "clients":
                # Six columns: SQLAlchemy's select (SQLModel's is typed up to four).
                for cid, first, last, aka, dob, identified_on in session.execute(
                    select_columns(
                        col(ClientIdentity.client_id),
                        col(ClientIdentity.first_name),
                        col(ClientIdentity.last_name),
                        col(ClientIdentity.aka),
                        col(ClientIdentity.date_of_birth),
                        col(Client.identified_on),
                    )
                    .join(Client, col(Client.id) == col(ClientIdentity.client_id))
                    .where(col(Client.deleted_at).is_(None))
                ):
                    self.identities[cid] = _identity_key(first, last, aka, dob, identified_on)
            self.workers: dict[str, str] = {}
            for wid, name in session.exec(
                select(Worker.id, Worker.display_name).where(col(Worker.deleted_at).is_(None))
            ):
                self.workers.setdefault(name.strip().lower(), wid)
            self.providers: dict[str, tuple[str, str]] = {}
            for pid, name, category in session.exec(
                select(Provider.id, Provider.name, Provider.category).where(col(Provider.deleted_at).is_(None))
            ):
                self.providers.setdefault(name.strip().lower(), (pid, category))
        # The open contact follow-ups of the batch being written, by client (read once per batch).
        self.open_contact: dict[str, list[FollowUp]] = {}
        self.planned_providers: dict[str, tuple[None, str]] = {}
        self.new_providers: dict[str, Provider] = {}
        self.file_pseudonyms: dict[str, IdentityKey] = {}  # clients kind: case id -> identity key in this file
        self.made_pseudonyms: set[str] = set()  # pseudonyms this import gave clients without a case id
        self.noons: dict[date, datetime] = {}  # `_at`'s answers

    def pseudonym_taken(self, candidate: str) -> bool:
        """Whether a pseudonym made for a client without a case id is another's (here or in the file);
        one that is not is kept as taken from now on."""
        key = candidate.upper()
        if key in self.clients or key in self.file_pseudonyms or key in self.made_pseudonyms:
            return True
        self.made_pseudonyms.add(key)
        return False

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


def _at(ctx: _Context, day: date) -> datetime:
    """A row that gives only a day happened at noon, program time (stored UTC)."""
    at = ctx.noons.get(day)
    if at is None:  # a history's rows share a few thousand days: each converted once
        at = ctx.noons[day] = ctx.clock.to_utc(datetime.combine(day, NOON))
    return at


def _build_client(ctx: _Context, row: _Row) -> _Planned | None:
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
    worker_id = ctx.worker(row)
    pseudonym = row.text("client", limit=40)
    who = _identity_key(first, last, aka, dob, identified_on)
    if pseudonym and not row.errors:
        # The program's case id names the client: the same case id with the same person is a
        # duplicate (skipped); with another person it is a problem.
        existing = ctx.clients.get(pseudonym.upper())
        in_file = ctx.file_pseudonyms.setdefault(pseudonym.upper(), who)
        if existing is not None and ctx.identities.get(existing[0]) != who:
            row.error(
                "client",
                f"{pseudonym!r} is already a client in this database, with another name, "
                "date of birth or identification day",
            )
        elif in_file != who:
            row.error("client", f"{pseudonym!r} appears twice in the file, for different people")
    if row.errors or identified_on is None:  # a missing identified_on is one of the row's problems
        return None
    if age_group is None:
        age_group = domain.age_group_for(dob, identified_on)
    client_id = new_id()
    created_at = _at(ctx, identified_on)
    client = {
        "id": client_id,
        "pseudonym": pseudonym or new_pseudonym(client_id, ctx.pseudonym_taken),
        "age_group": age_group.value,
        "area_command": area.value,
        "referral_source": source.value,
        "status": status.value,
        "risk_flags": ",".join(f.value for f in flags),
        "assigned_worker_id": worker_id,
        "identified_on": identified_on,
        "created_at": created_at,
        "deleted_at": None,
        "closed_reason": None,
        "closed_on": None,
    }
    identity = {
        "client_id": client_id,
        "first_name": first,
        "last_name": last,
        "aka": aka,
        "date_of_birth": dob,
        "phone": phone,
        "deleted_at": None,
    }
    key: tuple[Any, ...] = ("id", pseudonym.upper(), who) if pseudonym else ("who", who)
    return _Planned(row, key, client_id, data=(client, identity))


def _build_notification(ctx: _Context, row: _Row) -> _Planned | None:
    found = ctx.client(row)
    attempted_on = row.date("attempted_on", required=True, today=ctx.today)
    outcome = row.enum("outcome", NotificationOutcome, required=True)
    setting = row.enum("setting", domain.NotificationSetting, domain.NotificationSetting.HOME)
    area = row.enum("area_command", domain.AreaCommand)
    messages = row.enum_list("messages", domain.NotificationMessage)
    roles = row.enum_list("team_roles", domain.TeamRole)
    note = row.note()
    worker_id = ctx.worker(row)
    # A missing client, day or outcome is one of the row's problems.
    if row.errors or found is None or attempted_on is None or outcome is None:
        return None
    client_id, client_area = found
    area_value = area.value if area else client_area
    key = (
        client_id,
        attempted_on,
        outcome.value,
        setting.value,
        area_value,
        frozenset(m.value for m in messages),
        frozenset(r.value for r in roles),
        clean_note(note),
        worker_id,
    )

    def write(session: Session) -> None:
        # The app's own rules and effects (funnel, first follow-up), with the history's dates.
        records.record_notification(
            ctx.store,
            records.NotificationDraft(
                client_id=client_id,
                attempted_on=attempted_on,
                outcome=outcome.value,
                setting=setting.value,
                area_command=area_value,
                # Imported history names roles only: the people on the team are not in the spreadsheet.
                team=[(r.label, r.value) for r in roles],
                messages=[m.value for m in messages],
                note=note,
                confirm_same_day=True,
                recorded_by=worker_id,
                as_recorded=True,
            ),
            session=session,
            open_contact=ctx.open_contact.get(client_id, []),
        )

    return _Planned(row, key, client_id, write)


def _build_contact(ctx: _Context, row: _Row) -> _Planned | None:
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
    # A missing client, time or outcome is one of the row's problems.
    if row.errors or found is None or occurred_at is None or outcome is None:
        return None
    client_id, client_area = found
    area_value = area.value if area else client_area
    key = (
        client_id,
        occurred_at,
        mode.value,
        purpose.value,
        outcome.value,
        duration,
        area_value,
        clean_note(note),
        worker_id,
    )

    def write(session: Session) -> None:
        # Through the app's own service: a reached contact closes the follow-ups due by its day.
        records.log_contact(
            ctx.store,
            records.ContactDraft(
                client_id=client_id,
                occurred_at=occurred_at,
                mode=mode.value,
                purpose=purpose.value,
                outcome=outcome.value,
                duration_min=duration,
                area_command=area_value,
                note=note,
                worker_id=worker_id,
            ),
            session=session,
            open_contact=ctx.open_contact.get(client_id, []),
        )

    return _Planned(row, key, client_id, write)


# The statuses a referral passes through before each final status, when imported from one row.
_AFTER_ACCEPTED = {
    ReferralStatus.ACCEPTED,
    ReferralStatus.IN_PROGRESS,
    ReferralStatus.ON_HOLD,
    ReferralStatus.COMPLETED,
    ReferralStatus.FAILED,
}
_NEEDS_STATUS_ON = {
    ReferralStatus.REJECTED,
    ReferralStatus.ON_HOLD,
    ReferralStatus.COMPLETED,
    ReferralStatus.FAILED,
    ReferralStatus.CANCELLED,
}


def _build_referral(ctx: _Context, row: _Row) -> _Planned | None:
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

    provider_id: str | None = None
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

    # Each status the referral passes through, with its day (None where a needed date is missing:
    # that is one of the row's problems).
    events: list[tuple[ReferralStatus, date | None]] = []
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
            status is ReferralStatus.FAILED and first_service_on is not None
        ):
            events.append((ReferralStatus.IN_PROGRESS, first_service_on or accepted_on or sent_on))
        if status in _NEEDS_STATUS_ON and status_on is not None:
            events.append((status, status_on))
        for (before, day_before), (after, day_after) in zip(events, events[1:]):
            if day_before is not None and day_after is not None and day_after < day_before:
                row.error(
                    "",
                    f"the referral cannot become {after.label} ({day_after}) before it was "
                    f"{before.label} ({day_before})",
                )
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
    # A missing client, need or status is one of the row's problems.
    if row.errors or found is None or need is None or status is None:
        return None
    client_id, _area = found
    timeline: list[tuple[ReferralStatus, date]] = []
    for st, day in events:
        assert day is not None  # a row without problems has every date its status needs (checked above)
        timeline.append((st, day))
    served_on = next((d for st, d in timeline if st is ReferralStatus.IN_PROGRESS), None)
    key = (
        client_id,
        need.value,
        fold(provider_name),
        status.value,
        timeline[0][1],
        timeline[-1][1],
        served_on,
        clean_note(feedback),
        worker_id,
    )

    def write(session: Session) -> None:
        nonlocal provider_id
        if provider_id is None and provider_name:
            name_key = provider_name.lower()
            provider = ctx.new_providers.get(name_key)
            if provider is None:
                provider = Provider(name=provider_name, category=ctx.planned_providers[name_key][1])
                session.add(provider)
                ctx.new_providers[name_key] = provider
            provider_id = provider.id
        last_at = _at(ctx, timeline[-1][1])
        referral = Referral(
            client_id=client_id,
            need_domain=need.value,
            provider_id=provider_id,
            status=status.value,
            status_changed_at=last_at,
            first_service_on=served_on,
            feedback=feedback,
            created_by=worker_id,
            created_at=_at(ctx, timeline[0][1]),
        )
        session.add(referral)
        for n, (st, day) in enumerate(timeline):
            # Events of one day keep their order: a second apart.
            session.add(
                ReferralEvent(
                    id=new_id(),
                    referral_id=referral.id,
                    status=st.value,
                    at=_at(ctx, day) + timedelta(seconds=n),
                    by_worker=worker_id,
                    reason=reason if st is status else "",
                )
            )
        if any(st in domain.ENGAGED_REFERRAL_STATUSES for st, _ in timeline):
            _advance_status(_client(session, client_id), ClientStatus.ENGAGED)

    return _Planned(row, key, client_id, write)


def _build_outcome(ctx: _Context, row: _Row) -> _Planned | None:
    found = ctx.client(row)
    kind = row.enum("kind", domain.OutcomeKind, required=True)
    occurred_on = row.date("occurred_on", required=True, today=ctx.today)
    source = row.enum("source", domain.OutcomeSource, domain.OutcomeSource.WORKER)
    note = row.note()
    worker_id = ctx.worker(row)
    # A missing client, kind or day is one of the row's problems.
    if row.errors or found is None or kind is None or occurred_on is None:
        return None
    client_id, _area = found
    key = (client_id, kind.value, occurred_on, source.value, clean_note(note), worker_id)

    def write(session: Session) -> None:
        records.record_outcome(
            ctx.store, client_id, kind.value, occurred_on, source.value, note, recorded_by=worker_id, session=session
        )

    return _Planned(row, key, client_id, write)


_BUILDERS: dict[str, Callable[[_Context, _Row], _Planned | None]] = {
    "clients": _build_client,
    "notifications": _build_notification,
    "contacts": _build_contact,
    "referrals": _build_referral,
    "outcomes": _build_outcome,
}


# --- what is in the database already ----------------------------------------------------------------


def _chunks(items: list[T], size: int = 500) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing_keys(store: Store, kind: str, ctx: _Context, client_ids: list[str]) -> set[tuple[Any, ...]]:
    """The keys (as `_Planned.key`) of the live records of these clients, to recognise a row that
    is already in the database."""
    keys: set[tuple[Any, ...]] = set()
    if kind == "clients":
        by_id = {cid: pseudonym for pseudonym, (cid, _area) in ctx.clients.items() if pseudonym != cid.upper()}
        for cid, who in ctx.identities.items():
            keys.add(("who", who))
            if cid in by_id:
                keys.add(("id", by_id[cid], who))
        return keys
    # More than four columns: SQLAlchemy's select (SQLModel's is typed up to four).
    with store.read() as session:
        for ids in _chunks(client_ids):
            if kind == "notifications":
                for row in session.execute(
                    select_columns(
                        col(NotificationAttempt.client_id),
                        col(NotificationAttempt.attempted_on),
                        col(NotificationAttempt.outcome),
                        col(NotificationAttempt.setting),
                        col(NotificationAttempt.area_command),
                        col(NotificationAttempt.messages),
                        col(NotificationAttempt.team),
                        col(NotificationAttempt.note),
                        col(NotificationAttempt.recorded_by),
                    ).where(col(NotificationAttempt.client_id).in_(ids), col(NotificationAttempt.deleted_at).is_(None))
                ):
                    cid, day, outcome, setting, area, messages, team, note, by = row
                    roles = frozenset(member.get("role") for member in json.loads(team or "[]"))
                    keys.add(
                        (
                            cid,
                            day,
                            outcome,
                            setting,
                            area,
                            frozenset(m for m in messages.split(",") if m),
                            roles,
                            note,
                            by,
                        )
                    )
            elif kind == "contacts":
                for row in session.execute(
                    select_columns(
                        col(Contact.client_id),
                        col(Contact.occurred_at),
                        col(Contact.mode),
                        col(Contact.purpose),
                        col(Contact.outcome),
                        col(Contact.duration_min),
                        col(Contact.area_command),
                        col(Contact.note),
                        col(Contact.worker_id),
                    ).where(col(Contact.client_id).in_(ids), col(Contact.deleted_at).is_(None))
                ):
                    keys.add(tuple(row))
            elif kind == "outcomes":
                for row in session.execute(
                    select_columns(
                        col(Outcome.client_id),
                        col(Outcome.kind),
                        col(Outcome.occurred_on),
                        col(Outcome.source),
                        col(Outcome.note),
                        col(Outcome.recorded_by),
                    ).where(col(Outcome.client_id).in_(ids), col(Outcome.deleted_at).is_(None))
                ):
                    keys.add(tuple(row))
            elif kind == "referrals":
                names = {pid: name for name, (pid, _category) in ctx.providers.items()}
                for row in session.execute(
                    select_columns(
                        col(Referral.client_id),
                        col(Referral.need_domain),
                        col(Referral.provider_id),
                        col(Referral.status),
                        col(Referral.created_at),
                        col(Referral.status_changed_at),
                        col(Referral.first_service_on),
                        col(Referral.feedback),
                        col(Referral.created_by),
                    ).where(col(Referral.client_id).in_(ids), col(Referral.deleted_at).is_(None))
                ):
                    cid, need, pid, status, created, changed, served, feedback, by = row
                    keys.add(
                        (
                            cid,
                            need,
                            fold(names.get(pid, "")),
                            status,
                            ctx.clock.local_day(created),
                            ctx.clock.local_day(changed),
                            served,
                            feedback,
                            by,
                        )
                    )
    return keys


def parse_kind(kind: str) -> str:
    key = kind.strip().lower().replace("-", "_")
    key = KIND_ALIASES.get(key, key)
    if key not in KINDS:
        raise ValidationError(f"{kind!r} is not a kind of import; accepted: {', '.join(KINDS)}", field="kind")
    return key


# --- the import -----------------------------------------------------------------------------------


def import_csv(
    store: Store, kind: str, path: Path, *, dry_run: bool = False, progress: Progress = NO_PROGRESS
) -> ImportResult:
    """Validate every row and set duplicates aside; unless `dry_run` or any row is wrong, write the
    new rows in one transaction (in batches). `progress` hears of each batch checked and written."""
    kind = parse_kind(kind)
    header, rows = read_rows(Path(path), kind)
    result = ImportResult(kind=kind, rows=len(rows), dry_run=dry_run)
    result.errors += _check_header(kind, header)
    if result.errors:
        return result
    if not rows:
        raise ValidationError(f"{path} has a header but no rows", field="file")
    ctx = _Context(store, kind)
    build = _BUILDERS[kind]
    planned: list[_Planned] = []
    with progress.task(f"checking {kind}", total=len(rows)) as task:
        for n, row in enumerate(rows, 1):
            item = build(ctx, row)
            result.errors += row.errors
            if item is not None:
                planned.append(item)
            if n % BATCH_ROWS == 0:
                task.advance(BATCH_ROWS)
        task.advance(len(rows) % BATCH_ROWS)
    fresh = _set_duplicates_aside(store, kind, ctx, planned, result)
    if result.errors or not fresh:
        return result  # problems, or every row already there: nothing to write, no write lock taken
    try:
        with store.write() as session:
            usual_cache = _roomy_cache(session)
            try:
                with progress.task(f"importing {kind}", total=len(fresh)) as task:
                    for batch in _batches(fresh):
                        if kind == "clients":
                            _insert_clients(session, batch)
                        else:
                            _write_through_services(session, ctx, kind, batch, result)
                        task.advance(len(batch))
            finally:
                # Back to the usual size before the connection returns to the pool (the pages
                # written are flushed by the commit either way).
                session.connection().exec_driver_sql(f"PRAGMA cache_size = {int(usual_cache)}")
            if result.errors or dry_run:
                raise _UndoImport
    except _UndoImport:
        result.errors.sort(key=lambda e: e.row)
        return result
    result.written = len(fresh)
    return result


# Page cache for the import's connection while it writes (KiB): a file's worth of new pages stays
# in memory instead of being encrypted, spilled and read back again (SQLCipher's default is 2 MiB).
IMPORT_CACHE_KIB = 256 * 1024


def _roomy_cache(session: Session) -> int:
    """A large page cache for the import's connection; returns the setting it had."""
    conn = session.connection()
    usual = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
    return int(usual)


def _set_duplicates_aside(
    store: Store, kind: str, ctx: _Context, planned: list[_Planned], result: ImportResult
) -> list[_Planned]:
    """The rows to write: those neither already in the database nor repeating an earlier row."""
    client_ids = list(dict.fromkeys(p.client_id for p in planned if p.client_id))
    existing = _existing_keys(store, kind, ctx, client_ids)
    first_row: dict[tuple[Any, ...], int] = {}
    fresh: list[_Planned] = []
    for item in planned:
        if item.key in existing:
            result.duplicates.append(Duplicate(item.row.number))
        elif item.key in first_row:
            result.duplicates.append(Duplicate(item.row.number, first_row[item.key]))
        else:
            first_row[item.key] = item.row.number
            fresh.append(item)
    return fresh


def _batches(planned: list[_Planned]) -> Iterable[list[_Planned]]:
    """Batches of at most BATCH_ROWS rows in which no client appears twice. A client's rows keep
    their file order (its first row goes in an earlier batch than its second), so each row sees
    the effects of the client's earlier rows, flushed, exactly as one-row-at-a-time would."""
    rounds: list[list[_Planned]] = []
    depth: dict[str | None, int] = {}
    for item in planned:
        level = depth.get(item.client_id, 0)
        depth[item.client_id] = level + 1
        if level == len(rounds):
            rounds.append([])
        rounds[level].append(item)
    for same_round in rounds:
        yield from _chunks(same_round, BATCH_ROWS)


def _insert_clients(session: Session, batch: list[_Planned]) -> None:
    """New clients and their identities inserted in bulk, each field captured in the change log
    (one entry per field and a field clock, as the ORM's capture hook writes them)."""
    capture = session.info.get("capture")
    if not isinstance(capture, Capture):
        raise TypeError("the import writes through Store.write(), whose session captures changes")
    conn = session.connection()
    dialect = conn.dialect
    changes: list[tuple[str, str, str, Any]] = []
    created: set[tuple[str, str]] = set()
    # Table names as plain text: SQLAlchemy's name type costs the driver a lookup per parameter.
    for part, name, model, pk in ((0, "client", Client, "id"), (1, "client_identity", ClientIdentity, "client_id")):
        columns = list(table_of(model).columns)
        keys = [c.key for c in columns]
        processors = [value_processor(dialect, name, c) for c in columns]
        at = keys.index(pk)
        logged = [(n, k) for n, k in enumerate(keys) if k != pk]
        stored_rows = []
        for item in batch:
            if item.data is None:
                raise TypeError("a client row is planned with its data (_build_client)")
            values = item.data[part]
            stored = tuple(
                values[k] if p is None or values[k] is None else p(values[k]) for k, p in zip(keys, processors)
            )
            stored_rows.append(stored)
            row_id = stored[at]
            created.add((name, row_id))
            changes.extend([(name, row_id, k, stored[n]) for n, k in logged])
        conn.exec_driver_sql(
            f"INSERT INTO {name} ({', '.join(keys)}) VALUES ({', '.join('?' for _ in keys)})", stored_rows
        )
    record_changes(session, capture, changes, created=created)


def _write_through_services(
    session: Session, ctx: _Context, kind: str, batch: list[_Planned], result: ImportResult
) -> None:
    """One batch through the services, flushed once: no row of the batch shares a client with
    another, so none needs to see another's unflushed records."""
    # The batch's clients in the session at once (one query), so the services find them there,
    # and their open contact follow-ups (one query, not one per row), which the services take.
    client_ids = [item.client_id for item in batch if item.client_id]
    held = session.exec(select(Client).where(col(Client.id).in_(client_ids))).all()
    ctx.open_contact = records.open_contact_follow_ups(session, client_ids) if kind in _FOLLOW_UP_KINDS else {}
    with session.no_autoflush:
        for item in batch:
            if item.write is None:
                raise TypeError("a row written through the services is planned with its write")
            try:
                item.write(session)
            except (ValidationError, NotFound) as exc:
                result.errors.append(RowError(item.row.number, _column_of(kind, getattr(exc, "field", None)), str(exc)))
    session.flush()
    ctx.open_contact = {}
    del held


# The kinds whose service reads the client's open contact follow-ups.
_FOLLOW_UP_KINDS = frozenset({"notifications", "contacts"})


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
