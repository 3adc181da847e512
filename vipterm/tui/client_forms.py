"""Correcting and closing a client from the client file: the edit form (`e`), the closing
question (`C`: why, then y/n; on a closed client it asks to reopen), and the questions that void
or correct a fact of the timeline (`x`, `c`).

Everything is saved by `vipterm.services.records` in a thread; a refusal is shown under its field
and the form keeps what was typed.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Input, OptionList, SelectionList, Static
from textual.widgets.option_list import Option

from vipterm import domain
from vipterm.errors import ValidationError
from vipterm.services import records
from vipterm.tui.base import VipModal
from vipterm.tui.field_work import ArmedModal
from vipterm.tui.messages import ClientRef
from vipterm.tui.parsing import match_choice, parse_date
from vipterm.tui.widgets import ChoiceInput, FieldInput, FormModal, FormRow, NoteArea, TickList


class ClientEditForm(FormModal):
    """Edit who the client is and the program fields. Only fields that differ from what the file
    showed are sent, so an edit changes (and syncs) exactly what was changed. It keeps no crash
    draft: it starts from the stored record, which is still there after a crash."""

    form_title = "Edit client"

    def __init__(self, ref: ClientRef, client, identity) -> None:
        super().__init__()
        self.ref = ref
        self.client = client
        self.identity = identity
        self.sent: dict = {}

    def title_line(self) -> str:
        return f"{self.form_title} · {self.ref.pseudonym}"

    def _start(self, name: str) -> str:
        i, c = self.identity, self.client
        if name == "date_of_birth":
            return i.date_of_birth.isoformat() if i is not None and i.date_of_birth else ""
        if name in records.IDENTITY_FIELDS:
            return getattr(i, name) or "" if i is not None else ""
        if name == "area_command":
            return domain.AreaCommand.label_of(c.area_command, "")
        if name == "age_group":
            return domain.AgeGroup.label_of(c.age_group, "")
        if name == "referral_source":
            return domain.ReferralSource.label_of(c.referral_source, "")
        return ""

    def fields(self):
        yield FormRow("first name", FieldInput(self._start("first_name"), id="first_name"), "first_name")
        yield FormRow("last name", FieldInput(self._start("last_name"), id="last_name"), "last_name")
        yield FormRow("alias (aka)", FieldInput(self._start("aka"), id="aka"), "aka")
        yield FormRow(
            "date of birth",
            FieldInput(self._start("date_of_birth"), placeholder="YYYY-MM-DD, optional", id="date_of_birth"),
            "date_of_birth",
        )
        yield FormRow("phone", FieldInput(self._start("phone"), placeholder="optional", id="phone"), "phone")
        yield FormRow(
            "area",
            ChoiceInput(domain.AreaCommand.choices(), self._start("area_command"), id="area_command"),
            "area_command",
        )
        yield FormRow(
            "age group", ChoiceInput(domain.AgeGroup.choices(), self._start("age_group"), id="age_group"), "age_group"
        )
        yield FormRow(
            "came from",
            ChoiceInput(domain.ReferralSource.choices(), self._start("referral_source"), id="referral_source"),
            "referral_source",
        )
        current = {f for f in (self.client.risk_flags or "").split(",") if f}
        flags = TickList(*[(f.label, f.value, f.value in current) for f in domain.RiskFlag], id="risk_flags")
        yield FormRow("risk flags", flags, "risk_flags", hint="space ticks a flag")

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = self.app.cursor_blink
        super().on_mount()

    def collect(self) -> dict:
        today = self.app.today()
        values: dict = {}
        for name in ("first_name", "last_name", "aka", "phone"):
            values[name] = self.value(name).strip()
        if not (values["first_name"] or values["last_name"] or values["aka"]):
            raise ValidationError("a name or an alias is required", field="first_name")
        dob = parse_date(self.value("date_of_birth"), today=today, field="date_of_birth", required=False)
        if dob is not None and dob > today:
            raise ValidationError("the date of birth is in the future", field="date_of_birth")
        values["date_of_birth"] = dob
        values["area_command"] = match_choice(self.value("area_command"), domain.AreaCommand.choices(), "area_command")
        values["age_group"] = match_choice(self.value("age_group"), domain.AgeGroup.choices(), "age_group")
        values["referral_source"] = match_choice(
            self.value("referral_source"), domain.ReferralSource.choices(), "referral_source"
        )
        chosen = set(self.query_one("#risk_flags", SelectionList).selected)
        values["risk_flags"] = [f.value for f in domain.RiskFlag if f.value in chosen]  # the stored order
        i, c = self.identity, self.client
        before = {
            "first_name": i.first_name if i else "",
            "last_name": i.last_name if i else "",
            "aka": i.aka if i else "",
            "phone": i.phone if i else "",
            "date_of_birth": i.date_of_birth if i else None,
            "area_command": c.area_command,
            "age_group": c.age_group,
            "referral_source": c.referral_source,
            "risk_flags": [f for f in (c.risk_flags or "").split(",") if f],
        }
        changes = {k: v for k, v in values.items() if v != before[k]}
        if not changes:
            raise ValidationError("nothing changed: esc goes back", field="first_name")
        return changes

    def save_record(self, store, draft):
        self.sent = draft
        return records.edit_client(store, self.ref.client_id, **draft)

    def _saved(self, result) -> None:
        self.notify(f"{self.ref.pseudonym} updated: " + ", ".join(k.replace("_", " ") for k in self.sent))
        super()._saved(result)


class CloseReasonModal(ArmedModal):
    """Why the client is closed: one of `domain.ClosedReason` (↑↓ and enter, or its number).
    Dismisses with the reason's value, or None."""

    BINDINGS = [
        *[Binding(str(n), f"pick({n - 1})", show=False) for n in range(1, len(domain.ClosedReason) + 1)],
        Binding("escape", "cancel", "nothing", id="close_reason_cancel"),
    ]

    def __init__(self, pseudonym: str) -> None:
        super().__init__()
        self.pseudonym = pseudonym

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Close {self.pseudonym}: why?", classes="question-title", markup=False)
            yield OptionList(
                *[Option(f"{n}  {r.label}", id=r.value) for n, r in enumerate(domain.ClosedReason, start=1)],
                id="close-reasons",
            )
            yield Static(
                "↑↓ enter or 1–6 · esc: nothing · the client leaves the caseload and stays in the report",
                classes="question-help",
                markup=False,
            )
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.armed():
            self.dismiss(event.option.id)

    def action_pick(self, index: int) -> None:
        if self.armed():
            self.dismiss(list(domain.ClosedReason)[index].value)


class VoidReasonForm(FormModal):
    """Why a fact is voided (or corrected): a short reason, required. Dismisses with the text."""

    form_title = "Void"

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = title

    def title_line(self) -> str:
        return self.title

    def fields(self):
        yield FormRow("why", NoteArea(placeholder="e.g. entered for the wrong client", id="reason"), "reason")

    def collect(self) -> str:
        reason = self.value("reason").strip()
        if not reason:
            raise ValidationError("say why (it stays in the history)", field="reason")
        return reason

    def action_save(self) -> None:
        self.clear_errors()
        try:
            reason = self.collect()
        except ValidationError as exc:
            self.show_field_error(exc.field or "reason", exc.message)
            return
        self.dismiss(reason)


# --- c: correct a fact of the timeline ----------------------------------------------------------------


class CorrectionForm:
    """Mixin over an entry form (contact, notification, outcome): the form opens on the mistaken
    fact's values with a "why" field; saving enters the corrected fact in its place
    (`services.corrections`), in one transaction, and the old one stays in the history, marked.
    It keeps no crash draft (the mistaken fact is still there to start again from)."""

    draft_form = None
    what = "fact"

    def __init__(self, ref: ClientRef, fact) -> None:
        super().__init__(ref)
        self.fact = fact

    def title_line(self) -> str:
        return f"Correct {self.what} · {self.ref.pseudonym} {self.app.ref_name(self.ref)}"

    def fields(self):
        yield from super().fields()
        yield FormRow(
            "why correct",
            NoteArea(placeholder="what was wrong (kept in the history)", id="correction_reason"),
            "reason",
        )

    def prefill(self) -> None:  # pragma: no cover - each form defines it
        raise NotImplementedError

    def on_mount(self) -> None:
        if not getattr(self, "_prefilled", False):
            self._prefilled = True
            self.prefill()
        super().on_mount()
        self._initial = self.snapshot_values()  # the fact's values are the starting point

    def _set(self, field_id: str, value: str) -> None:
        self.query_one(f"#{field_id}").value = value

    def collect(self):
        reason = self.value("correction_reason").strip()
        draft = super().collect()
        if not reason:
            raise ValidationError("say why (it stays in the history)", field="reason")
        return draft, reason

    def _saved(self, result) -> None:
        self.notify(f"{self.what} of {self.ref.pseudonym} corrected; the old one is kept, marked superseded")
        FormModal._saved(self, result)


def _contact_form():
    from vipterm.tui.forms import ContactForm

    class CorrectContactForm(CorrectionForm, ContactForm):
        what = "contact"

        def prefill(self) -> None:
            f = self.fact
            self._set("occurred_at", self.app.to_local(f.occurred_at).strftime("%Y-%m-%d %H:%M"))
            self._set("mode", domain.ContactMode.label_of(f.mode, ""))
            self._set("purpose", domain.ContactPurpose.label_of(f.purpose, ""))
            self._set("duration_min", str(f.duration_min) if f.duration_min is not None else "")
            self._set("area_command", domain.AreaCommand.label_of(f.area_command, ""))
            self._set("outcome", domain.ContactOutcome.label_of(f.outcome, ""))
            self._set("note", f.note or "")
            self._set("next_follow_up", "")  # a correction schedules nothing unless asked to

        def save_record(self, store, draft):
            from vipterm.services import corrections

            contact, reason = draft
            fields = {
                name: getattr(contact, name)
                for name in (
                    "occurred_at",
                    "mode",
                    "purpose",
                    "outcome",
                    "duration_min",
                    "area_command",
                    "note",
                    "next_follow_up",
                )
            }
            return corrections.correct_contact(store, self.fact.id, reason, **fields)

    return CorrectContactForm


def _outcome_form():
    from vipterm.tui.forms import OutcomeForm

    class CorrectOutcomeForm(CorrectionForm, OutcomeForm):
        what = "outcome"

        def prefill(self) -> None:
            f = self.fact
            self._set("kind", domain.OutcomeKind.label_of(f.kind, ""))
            self._set("occurred_on", f.occurred_on.isoformat())
            self._set("source", domain.OutcomeSource.label_of(f.source, ""))
            self._set("note", f.note or "")

        def save_record(self, store, draft):
            from vipterm.services import corrections

            values, reason = draft
            fields = {k: v for k, v in values.items() if k != "client_id"}
            return corrections.correct_outcome(store, self.fact.id, reason, **fields)

    return CorrectOutcomeForm


def _notification_form():
    import json

    from vipterm.tui.forms import TEAM_ROWS, NotificationForm

    class CorrectNotificationForm(CorrectionForm, NotificationForm):
        what = "notification"

        def prefill(self) -> None:
            f = self.fact
            self._set("attempted_on", f.attempted_on.isoformat())
            self._set("setting", domain.NotificationSetting.label_of(f.setting, ""))
            self._set("area_command", domain.AreaCommand.label_of(f.area_command, ""))
            self._set("outcome", domain.NotificationOutcome.label_of(f.outcome, ""))
            team = json.loads(f.team or "[]")
            for n in range(TEAM_ROWS):
                member = team[n] if n < len(team) else None
                self._set(f"team-name-{n}", member["name"] if member else "")
                if member:
                    self._set(f"team-role-{n}", domain.TeamRole.label_of(member["role"], ""))
            messages = self.query_one("#messages", SelectionList)
            messages.deselect_all()
            for m in (f.messages or "").split(","):
                if m:
                    messages.select(m)
            self._set("note", f.note or "")

        def first_focus(self):
            return self.query_one("#attempted_on", Input)

        def save_record(self, store, draft):
            from vipterm.services import corrections

            attempt, reason = draft
            if attempt.attempted_on > self.app.today():
                raise ValidationError("the attempt date is in the future", field="attempted_on")
            fields = {
                name: getattr(attempt, name)
                for name in ("attempted_on", "outcome", "setting", "area_command", "team", "messages", "note")
            }
            return corrections.correct_notification(store, self.fact.id, reason, **fields)

    return CorrectNotificationForm


def correction_form(kind: str, ref: ClientRef, fact) -> FormModal:
    """The correction form for a timeline entry's kind (contact, notification, outcome)."""
    factory = {"contact": _contact_form, "notification": _notification_form, "outcome": _outcome_form}[kind]
    return factory()(ref, fact)


# --- h: the field history ------------------------------------------------------------------------------


class FieldHistoryModal(VipModal):
    """Every value the client's fields have held, newest first: when (program time), field, value,
    who set it on which device, and whether it won or lost a concurrent edit. Identity values are
    masked while the privacy mask is on."""

    CLOSE_ON_LOCK = True
    DEFAULT_CSS = """
    FieldHistoryModal { align: center middle; }
    FieldHistoryModal > Vertical { width: 78; max-width: 100%; height: 90%; border: thick $accent;
                                   background: $surface; padding: 0 1; }
    FieldHistoryModal #history-title { text-style: bold; }
    FieldHistoryModal DataTable { height: 1fr; }
    """
    BINDINGS = [Binding("escape,h", "close", "back", id="history_back")]

    def __init__(self, ref: ClientRef) -> None:
        super().__init__()
        self.ref = ref
        self.changes: list | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Field history · {self.ref.pseudonym} · loading…", id="history-title", markup=False)
            yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # 80 columns: the modal's 74 inside hold these (plus a cell's padding each).
        table.add_column("when", width=16)
        table.add_column("field", width=12)
        table.add_column("value", width=13)
        table.add_column("by · device", width=18)
        table.add_column("confl", width=5)
        table.focus()
        if self.store is not None:
            self._load(self.store)

    @work(thread=True, group="field-history")
    def _load(self, store) -> None:
        from vipterm.services.field_history import field_history

        changes = field_history(store, self.ref.client_id)
        self.app.call_from_thread(self._loaded, changes)

    def _loaded(self, changes) -> None:
        if not self.is_attached or self.store is None:
            return
        self.changes = changes
        self._show()

    def _show(self) -> None:
        from vipterm.services.field_history import IDENTIFYING

        table = self.query_one(DataTable)
        table.clear()
        for c in self.changes or []:
            value = "—" if c.value in (None, "") else str(c.value)
            if c.field in IDENTIFYING and self.app.masked and value != "—":
                value = domain.MASK
            who = f"{c.worker} · {c.device_name}" if c.worker else c.device_name
            conflict = (c.conflict + ("*" if c.conflict_open else "")) if c.conflict else ""  # *: to review
            table.add_row(
                self.app.to_local(c.at).strftime("%Y-%m-%d %H:%M"), c.field.replace("_", " "), value, who, conflict
            )
        count = len(self.changes or [])
        self.query_one("#history-title", Static).update(
            f"Field history · {self.ref.pseudonym} · {count} change{'s' if count != 1 else ''}"
            + (
                " · confl: won/lost a concurrent edit, * to review"
                if any(c.conflict for c in self.changes or [])
                else ""
            )
            + " · esc back"
        )

    def refresh_names(self) -> None:
        if self.changes is not None:
            self._show()

    def action_close(self) -> None:
        self.dismiss(None)
