"""The entry forms: contact (the quick one), custom notification, new client, needs assessment,
referral, referral status, outcome and follow-up.

A form only reads its fields into values (an unreadable date or an unknown choice is shown under
its field at once); every rule on those values (no date ahead of today, what must be given, a
follow-up not earlier than its contact, lengths) is the service's, which the app, the command line
and the spreadsheet import share, and
its `ValidationError(field=…)` is shown under the field the same way.

Each is a `FormModal`: fields with defaults (now, the client in focus, the mode used last time,
a follow-up a week ahead; never a contact's outcome, which is chosen), parsed here into a service draft, saved in a thread
by the service in `vipterm.services.records`, which validates again. A bad value is shown under
its field and everything typed stays.
"""

from __future__ import annotations

from datetime import timedelta

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Input, OptionList, SelectionList, Static
from textual.widgets.option_list import Option

from vipterm import domain
from vipterm.errors import ValidationError
from vipterm.services import records
from vipterm.tui.base import let_go_of_closed_widgets
from vipterm.tui.field_work import ConfirmingSave
from vipterm.tui.messages import ClientRef, PreviousLevels, ProvidersFound
from vipterm.tui.parsing import (
    DATE_HELP,
    match_choice,
    parse_date,
    parse_minutes,
    parse_when,
)
from vipterm.tui.widgets import ChoiceInput, FieldInput, FormModal, FormRow, NoteArea, TickList


class ClientRecordForm(FormModal):
    """A form about one client: its title names them (initials while the mask is on)."""

    def __init__(self, ref: ClientRef) -> None:
        super().__init__()
        self.ref = ref

    def title_line(self) -> str:
        return f"{self.form_title} · {self.ref.pseudonym} {self.app.ref_name(self.ref)}"

    def refresh_names(self) -> None:
        if self.app.store is not None:
            self.query_one("#form-title", Static).update(self.title_line())

    def draft_key(self) -> str | None:
        return f"{self.draft_form}:{self.ref.client_id}" if self.draft_form else None

    def draft_client_id(self) -> str | None:
        return self.ref.client_id

    def on_mount(self) -> None:
        for field in self.query("Input, NoteArea"):
            field.cursor_blink = self.app.cursor_blink
        super().on_mount()


# --- contact -------------------------------------------------------------------------------------


class ContactForm(ClientRecordForm):
    """Log a contact: open, say what happened (r + enter: reached), type the note (enter is a new
    line), ctrl+s."""

    form_title = "Log contact"
    draft_form = "contact"

    def defaults(self) -> dict[str, str]:
        """What each field holds when the form opens, by field id (`fields` and `reopen`)."""
        app = self.app
        return {
            "occurred_at": app.now().strftime("%Y-%m-%d %H:%M"),
            "mode": domain.ContactMode.label_of(app.last_mode, ""),
            "purpose": domain.ContactPurpose.CHECK_IN.label,
            "duration_min": "",
            "area_command": domain.AreaCommand.label_of(self.ref.area_command, ""),
            # No default: "reached" is chosen, never assumed (an unanswered call saved as reached
            # used to close the overdue follow-up). r + enter picks it; A logs an attempt faster.
            "outcome": "",
            "note": "",
            "next_follow_up": (app.today() + timedelta(days=7)).isoformat(),
        }

    def fields(self):
        given = self.defaults()
        yield FormRow("when", FieldInput(given["occurred_at"], id="occurred_at"), "occurred_at")
        yield FormRow("mode", ChoiceInput(domain.ContactMode.choices(), given["mode"], id="mode"), "mode")
        yield FormRow(
            "purpose", ChoiceInput(domain.ContactPurpose.choices(), given["purpose"], id="purpose"), "purpose"
        )
        yield FormRow("minutes", FieldInput(placeholder="optional, e.g. 20 or 1h30", id="duration_min"), "duration_min")
        yield FormRow(
            "area",
            ChoiceInput(domain.AreaCommand.choices(), given["area_command"], id="area_command"),
            "area_command",
        )
        yield FormRow(
            "outcome",
            ChoiceInput(
                domain.ContactOutcome.choices(),
                given["outcome"],
                id="outcome",
                placeholder="r reached · n no answer · v voicemail · w wrong number",
            ),
            "outcome",
        )
        yield FormRow("note", NoteArea(placeholder="what happened, what is next", id="note"), "note")
        yield FormRow(
            "next follow-up",
            FieldInput(given["next_follow_up"], id="next_follow_up", placeholder="empty for none"),
            "next_follow_up",
        )

    def first_focus(self):
        return self.query_one("#outcome", ChoiceInput)

    # --- opened again ------------------------------------------------------------------------------
    # The app keeps one contact form and opens it again for each contact (`VipApp.open_form`): a
    # form built for every contact and dropped after it left 20,000 objects in reference cycles
    # that only Python's full garbage collections free, one of 30-40 ms every second or third save,
    # landing on somebody's ctrl+s (bench/FINDINGS.md). Opened again, it is as if new: the defaults
    # for the client (or the kept draft), no message, nothing of the last contact, undo included.

    def can_reopen(self) -> bool:
        """Closed (on no screen stack) and idle: nothing of its last opening still running."""
        app = self.app
        return (
            self.is_mounted
            and not self._closing
            and not self.saving
            and all(self not in stack for stack in app._screen_stacks.values())
            and not any(worker.node is self and not worker.is_finished for worker in app.workers)
        )

    def reopen(self, ref: ClientRef, draft: dict | None = None) -> None:
        """Make the closed form a new one about `ref` (with `draft`'s fields, when given)."""
        if self._draft_timer is not None:
            self._draft_timer.stop()
            self._draft_timer = None
        self.ref = ref
        self.saving = False
        self._draft_stored = False
        self._draft_done = False  # `_draft_seq` and `_draft_written` go on: a late write stays dropped
        for field_id, value in self.defaults().items():
            field = self.query_one(f"#{field_id}", (Input, NoteArea))
            field.value = value  # a note's undo history goes with its text
            field.cursor_blink = self.app.cursor_blink
            if isinstance(field, Input):
                field.cursor_position = len(value)
            if isinstance(field, FieldInput):
                field._handed_to = None
        # What Textual still holds of the widgets the form closed while open (the key bar's keys are
        # rebuilt on every change of focus): a form built anew took it along when it went.
        let_go_of_closed_widgets(*self.walk_children(with_self=True))
        self.clear_errors()
        self.query_one("#form-title", Static).update(self.title_line())
        self.query_one("#form", VerticalScroll).scroll_home(animate=False)
        self._initial = self.snapshot_values()
        if draft is not None:
            self.restore_draft(draft)
        self.set_focus(self.first_focus())

    def on_screen_suspend(self) -> None:
        # Closed (not just covered by a question or the lock): what was typed about the client
        # does not stay in the hidden form until its next opening.
        if all(self not in stack for stack in self.app._screen_stacks.values()):
            self.query_one("#note", NoteArea).value = ""
            self.query_one("#form-title", Static).update(self.form_title)

    def collect(self) -> records.ContactDraft:
        now = self.app.now()
        occurred = parse_when(self.value("occurred_at"), now=now, field="occurred_at")
        follow = parse_date(
            self.value("next_follow_up"), today=self.app.today(), field="next_follow_up", required=False
        )
        return records.ContactDraft(
            client_id=self.ref.client_id,
            occurred_at=self.app.to_utc(occurred),
            mode=match_choice(self.value("mode"), domain.ContactMode.choices(), "mode"),
            purpose=match_choice(self.value("purpose"), domain.ContactPurpose.choices(), "purpose"),
            outcome=match_choice(self.value("outcome"), domain.ContactOutcome.choices(), "outcome"),
            duration_min=parse_minutes(self.value("duration_min"), "duration_min"),
            area_command=match_choice(self.value("area_command"), domain.AreaCommand.choices(), "area_command"),
            note=self.value("note"),
            next_follow_up=follow,
        )

    SAVE_JOINS_TRANSACTION = True

    def save_record(self, store, draft, session=None):
        return records.log_contact(store, draft, session=session)

    def _saved(self, result) -> None:
        self.app.last_mode = result.mode
        if result.outcome == domain.ContactOutcome.REACHED.value:
            self.notify(f"contact with {self.ref.pseudonym} logged")
        else:
            self.notify(
                f"attempt to reach {self.ref.pseudonym} logged "
                f"({domain.ContactOutcome(result.outcome).label}); any due follow-up stays open"
            )
        super()._saved(result)


# --- custom notification -----------------------------------------------------------------------------

TEAM_ROWS = 3
DEFAULT_TEAM_ROLES = (domain.TeamRole.PEER_SUPPORT, domain.TeamRole.POLICE, domain.TeamRole.COMMUNITY_LEADER)
DEFAULT_MESSAGES = {
    domain.NotificationMessage.COMMUNITY_CARES,
    domain.NotificationMessage.OFFER_OF_HELP,
    domain.NotificationMessage.PEER_CONTACT,
}


class NotificationForm(ConfirmingSave, ClientRecordForm):
    """Record a custom notification attempt: who went, what was said, how it ended.

    Team and messages belong to a delivered notification: choosing another outcome unticks the
    default messages (ones the worker ticked stay, and the service refuses them with a message
    under the field). A second attempt for the client on the same day asks first (y/n).
    """

    form_title = "Custom notification"
    draft_form = "notification"

    def fields(self):
        yield FormRow("attempt date", FieldInput(self.app.today().isoformat(), id="attempted_on"), "attempted_on")
        yield FormRow(
            "setting",
            ChoiceInput(domain.NotificationSetting.choices(), domain.NotificationSetting.HOME.label, id="setting"),
            "setting",
        )
        yield FormRow(
            "area",
            ChoiceInput(
                domain.AreaCommand.choices(), domain.AreaCommand.label_of(self.ref.area_command, ""), id="area_command"
            ),
            "area_command",
        )
        yield FormRow(
            "outcome",
            ChoiceInput(domain.NotificationOutcome.choices(), domain.NotificationOutcome.DELIVERED.label, id="outcome"),
            "outcome",
        )
        for n in range(TEAM_ROWS):
            team = Horizontal(
                FieldInput(placeholder="name (empty: not there)", id=f"team-name-{n}", classes="team-name"),
                ChoiceInput(
                    domain.TeamRole.choices(), DEFAULT_TEAM_ROLES[n].label, id=f"team-role-{n}", classes="team-role"
                ),
                classes="team-row",
            )
            yield FormRow(f"team {n + 1}", team, "team" if n == 0 else f"team-{n}")
        messages = TickList(
            *[(m.label, m.value, m in DEFAULT_MESSAGES) for m in domain.NotificationMessage], id="messages"
        )
        yield FormRow(
            "messages",
            messages,
            "messages",
            hint="space ticks a message · team and messages: a delivered notification only",
        )
        yield FormRow("note", NoteArea(placeholder="optional", id="note"), "note")

    def first_focus(self):
        return self.query_one("#team-name-0", Input)

    _defaults_cleared = False  # the default messages were unticked because the outcome changed

    @on(Input.Changed, "#outcome")
    def _outcome_changed(self, event: Input.Changed) -> None:
        try:
            outcome = match_choice(event.value, domain.NotificationOutcome.choices(), "outcome")
        except ValidationError:
            return  # still being typed
        messages = self.query_one("#messages", SelectionList)
        defaults = {m.value for m in DEFAULT_MESSAGES}
        if outcome != domain.NotificationOutcome.DELIVERED.value and set(messages.selected) == defaults:
            messages.deselect_all()
            self._defaults_cleared = True
        elif outcome == domain.NotificationOutcome.DELIVERED.value and self._defaults_cleared and not messages.selected:
            for value in defaults:
                messages.select(value)
            self._defaults_cleared = False

    def collect(self) -> records.NotificationDraft:
        team = []
        for n in range(TEAM_ROWS):
            name = self.value(f"team-name-{n}").strip()
            if name:
                role = match_choice(self.value(f"team-role-{n}"), domain.TeamRole.choices(), "team")
                team.append((name, role))
        return records.NotificationDraft(
            client_id=self.ref.client_id,
            attempted_on=parse_date(self.value("attempted_on"), today=self.app.today(), field="attempted_on"),
            outcome=match_choice(self.value("outcome"), domain.NotificationOutcome.choices(), "outcome"),
            setting=match_choice(self.value("setting"), domain.NotificationSetting.choices(), "setting"),
            area_command=match_choice(self.value("area_command"), domain.AreaCommand.choices(), "area_command"),
            team=team,
            messages=list(self.query_one("#messages", SelectionList).selected),
            note=self.value("note"),
            confirm_same_day=self.take_confirmation(),
        )

    SAVE_JOINS_TRANSACTION = True

    def save_record(self, store, draft, session=None):
        return records.record_notification(store, draft, session=session)

    def _saved(self, result) -> None:
        if result.outcome == domain.NotificationOutcome.DELIVERED.value:
            self.notify(f"notification of {self.ref.pseudonym} recorded; first follow-up scheduled")
        else:
            self.notify(f"notification attempt for {self.ref.pseudonym} recorded")
        super()._saved(result)


# --- outcome and follow-up -------------------------------------------------------------------------------


class OutcomeForm(ClientRecordForm):
    form_title = "Outcome"
    draft_form = "outcome"

    def fields(self):
        yield FormRow(
            "what",
            ChoiceInput(domain.OutcomeKind.choices(), "", id="kind", placeholder="re-arrest, job, housing, …"),
            "kind",
        )
        yield FormRow("date", FieldInput(self.app.today().isoformat(), id="occurred_on"), "occurred_on")
        yield FormRow(
            "source",
            ChoiceInput(domain.OutcomeSource.choices(), domain.OutcomeSource.WORKER.label, id="source"),
            "source",
        )
        yield FormRow("note", NoteArea(placeholder="optional", id="note"), "note")

    def collect(self):
        kind = match_choice(self.value("kind"), domain.OutcomeKind.choices(), "kind")
        day = parse_date(self.value("occurred_on"), today=self.app.today(), field="occurred_on")
        source = match_choice(self.value("source"), domain.OutcomeSource.choices(), "source")
        return dict(client_id=self.ref.client_id, kind=kind, occurred_on=day, source=source, note=self.value("note"))

    def save_record(self, store, draft):
        return records.record_outcome(store, **draft)

    def _saved(self, result) -> None:
        self.notify(f"outcome for {self.ref.pseudonym} recorded")
        super()._saved(result)


class FollowUpForm(ClientRecordForm):
    form_title = "Follow-up"
    draft_form = "follow_up"

    def fields(self):
        yield FormRow(
            "due", FieldInput((self.app.today() + timedelta(days=7)).isoformat(), id="due_on"), "due_on", hint=DATE_HELP
        )
        yield FormRow("time", FieldInput(placeholder="optional, e.g. 9:00 (court at nine)", id="due_time"), "due_time")
        yield FormRow(
            "kind", ChoiceInput(domain.FollowUpKind.choices(), domain.FollowUpKind.CONTACT.label, id="kind"), "kind"
        )
        yield FormRow("note", NoteArea(placeholder="optional", id="note"), "note")

    def collect(self):
        due = parse_date(self.value("due_on"), today=self.app.today(), field="due_on")
        kind = match_choice(self.value("kind"), domain.FollowUpKind.choices(), "kind")
        return dict(
            client_id=self.ref.client_id,
            due_on=due,
            kind=kind,
            note=self.value("note"),
            due_time=records.time_of_day(self.value("due_time")),
        )

    def save_record(self, store, draft):
        return records.schedule_follow_up(store, **draft)

    def _saved(self, result) -> None:
        at = f" at {result.due_time}" if result.due_time else ""
        self.notify(f"follow-up for {self.ref.pseudonym} due {result.due_on.isoformat()}{at}")
        super()._saved(result)


# --- new client (intake) ---------------------------------------------------------------------------------


class ClientForm(ConfirmingSave, FormModal):
    """Intake: who the client is (kept in the identity table), where, how they came, risk flags.

    A possible duplicate (same folded name, alias, date of birth or phone; `records.possible_duplicates`)
    is listed before anything is created: `y` creates the client anyway, `n` goes back to the form.
    """

    form_title = "New client"
    draft_form = "client"

    def draft_key(self) -> str | None:
        return "client:new"

    def fields(self):
        yield FormRow("first name", FieldInput(id="first_name"), "first_name")
        yield FormRow("last name", FieldInput(id="last_name"), "last_name")
        yield FormRow("alias (aka)", FieldInput(id="aka"), "aka")
        yield FormRow(
            "date of birth", FieldInput(placeholder="YYYY-MM-DD, optional", id="date_of_birth"), "date_of_birth"
        )
        yield FormRow("phone", FieldInput(placeholder="optional", id="phone"), "phone")
        yield FormRow(
            "area",
            ChoiceInput(
                domain.AreaCommand.choices(), "", id="area_command", placeholder="Southeast, Valley, … (N/A if unknown)"
            ),
            "area_command",
        )
        yield FormRow(
            "came from",
            ChoiceInput(
                domain.ReferralSource.choices(), domain.ReferralSource.SHOOTING_REVIEW.label, id="referral_source"
            ),
            "referral_source",
        )
        yield FormRow(
            "age group",
            ChoiceInput(domain.AgeGroup.choices(), "", id="age_group", placeholder="from the date of birth when empty"),
            "age_group",
        )
        yield FormRow("identified on", FieldInput(self.app.today().isoformat(), id="identified_on"), "identified_on")
        flags = TickList(*[(f.label, f.value, False) for f in domain.RiskFlag], id="risk_flags")
        yield FormRow("risk flags", flags, "risk_flags", hint="space ticks a flag")

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = self.app.cursor_blink
        super().on_mount()

    def collect(self) -> records.ClientDraft:
        today = self.app.today()
        dob = parse_date(self.value("date_of_birth"), today=today, field="date_of_birth", required=False)
        identified = parse_date(self.value("identified_on"), today=today, field="identified_on")
        return records.ClientDraft(
            first_name=self.value("first_name"),
            last_name=self.value("last_name"),
            aka=self.value("aka"),
            date_of_birth=dob,
            phone=self.value("phone"),
            area_command=match_choice(self.value("area_command"), domain.AreaCommand.choices(), "area_command"),
            referral_source=match_choice(
                self.value("referral_source"), domain.ReferralSource.choices(), "referral_source"
            ),
            age_group=match_choice(self.value("age_group"), domain.AgeGroup.choices(), "age_group", required=False),
            risk_flags=list(self.query_one("#risk_flags", SelectionList).selected),
            identified_on=identified,
            confirm_duplicate=self.take_confirmation(),
        )

    def save_record(self, store, draft):
        return records.create_client(store, draft)

    def clear_for_lock(self) -> None:
        super().clear_for_lock()


# --- needs assessment ------------------------------------------------------------------------------------


class NeedsChanged(Message):
    """A level or a priority of the needs grid changed."""


def _level_text(level: int | None) -> Text:
    if level is None:
        return Text("·", style="dim")
    style = {0: "", 1: "", 2: "bold yellow", 3: "bold red"}[level]
    return Text(f"{level} {domain.NEED_LEVELS[level]}", style=style)


class NeedsGrid(DataTable):
    """One row per need domain: 0–3 set the level of the row in focus, p marks a client priority."""

    BINDINGS = [
        Binding("0", "set_level(0)", "no need", show=False),
        Binding("1", "set_level(1)", "low", show=False),
        Binding("2", "set_level(2)", "moderate", show=False),
        Binding("3", "set_level(3)", "urgent", show=False),
        Binding("p", "toggle_priority", "priority", id="priority"),
        Binding("backspace,delete", "set_level(None)", "clear", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.levels: dict[str, int] = {}
        self.priorities: set[str] = set()
        self.previous: dict[str, tuple[int, bool]] = {}

    def on_mount(self) -> None:
        self.add_column("need", width=20, key="need")
        self.add_column("before", width=12, key="before")
        self.add_column("now", width=12, key="now")
        self.add_column("prio.", width=6, key="priority")
        for need in domain.NeedDomain:
            self.add_row(need.label, _level_text(None), _level_text(None), "", key=need.value)

    def current_need(self) -> str:
        return list(domain.NeedDomain)[self.cursor_row].value

    def action_set_level(self, level: int | None) -> None:
        need = self.current_need()
        if level is None:
            self.levels.pop(need, None)
        else:
            self.levels[need] = level
        self.update_cell(need, "now", _level_text(level))
        self.post_message(NeedsChanged())
        if self.cursor_row < self.row_count - 1 and level is not None:
            self.move_cursor(row=self.cursor_row + 1)  # rating runs down the list

    def action_toggle_priority(self) -> None:
        need = self.current_need()
        self.priorities.symmetric_difference_update({need})
        self.update_cell(need, "priority", Text("★", style="bold") if need in self.priorities else "")
        self.post_message(NeedsChanged())

    def set_levels(self, levels: dict[str, int], priorities: set[str]) -> None:
        """Show these levels and priorities (a restored draft)."""
        known = {need.value for need in domain.NeedDomain}
        self.levels = {n: v for n, v in levels.items() if n in known and v in domain.NEED_LEVELS}
        self.priorities = {n for n in priorities if n in known}
        for need in known:
            self.update_cell(need, "now", _level_text(self.levels.get(need)))
            self.update_cell(need, "priority", Text("★", style="bold") if need in self.priorities else "")

    def show_previous(self, previous: dict[str, tuple[int, bool]]) -> None:
        self.previous = previous
        for need in domain.NeedDomain:
            level, priority = previous.get(need.value, (None, False))
            text = _level_text(level)
            if priority:
                text.append(" ★")
            self.update_cell(need.value, "before", text)


class AssessmentForm(ClientRecordForm):
    """The needs grid, with the previous assessment's levels beside each domain."""

    form_title = "Needs assessment"
    draft_form = "assessment"

    def fields(self):
        yield FormRow(
            "kind", ChoiceInput(domain.AssessmentKind.choices(), domain.AssessmentKind.INTAKE.label, id="kind"), "kind"
        )
        yield FormRow("date", FieldInput(self.app.today().isoformat(), id="assessed_on"), "assessed_on")
        yield FormRow(
            "needs", NeedsGrid(id="needs-grid"), "levels", hint="0 none 1 low 2 moderate 3 urgent · p priority · ↑↓"
        )
        yield FormRow("note", NoteArea(placeholder="optional", id="note"), "note")

    def first_focus(self):
        return self.query_one(NeedsGrid)

    def on_mount(self) -> None:
        super().on_mount()
        store = self.app.store
        if store is not None:
            self._load_previous(store)

    @work(thread=True, exit_on_error=False, group="previous")
    def _load_previous(self, store) -> None:
        self.post_message(PreviousLevels(records.latest_assessment_levels(store, self.ref.client_id)))

    def on_needs_changed(self, _message: NeedsChanged) -> None:
        self.clear_error_of(self.query_one(NeedsGrid))
        self.schedule_draft()

    def restore_extra(self, fields: dict) -> None:
        levels = {str(pair[0]): pair[1] for pair in fields.get("levels") or [] if len(pair) == 2}
        priorities = {str(need) for need in fields.get("priorities") or []}
        self.restored = True
        # The grid fills its rows as it mounts: set the levels once it has.
        self.call_after_refresh(self.query_one(NeedsGrid).set_levels, levels, priorities)

    def on_previous_levels(self, message: PreviousLevels) -> None:
        grid = self.query_one(NeedsGrid)
        grid.show_previous(message.levels)
        if getattr(self, "restored", False):
            return  # a restored draft says which kind it is
        if message.levels and self.query_one("#kind", ChoiceInput).value == domain.AssessmentKind.INTAKE.label:
            self.query_one("#kind", ChoiceInput).value = domain.AssessmentKind.NINETY_DAY.label
            self._initial = self.snapshot_values()

    def snapshot_values(self):
        values = super().snapshot_values()
        grids = list(self.query(NeedsGrid))
        if grids:
            values["levels"] = tuple(sorted(grids[0].levels.items()))
            values["priorities"] = tuple(sorted(grids[0].priorities))
        return values

    def collect(self) -> records.AssessmentDraft:
        grid = self.query_one(NeedsGrid)
        day = parse_date(self.value("assessed_on"), today=self.app.today(), field="assessed_on")
        return records.AssessmentDraft(
            client_id=self.ref.client_id,
            kind=match_choice(self.value("kind"), domain.AssessmentKind.choices(), "kind"),
            assessed_on=day,
            levels=dict(grid.levels),
            priorities=set(grid.priorities),
            note=self.value("note"),
        )

    def save_record(self, store, draft):
        return records.record_assessment(store, draft)

    def _saved(self, result) -> None:
        self.notify(f"assessment of {self.ref.pseudonym} saved")
        super()._saved(result)


# --- referrals -----------------------------------------------------------------------------------------------


SEND_CHOICES = [("yes, mark it sent", "yes"), ("no, keep it as a draft", "no")]
# Whether the referral passes the client's identifying information to the provider: sending one
# that does needs a current written consent to share with that provider (services.consent).
SHARE_CHOICES = [("no identifying information", "no"), ("yes, their name and details", "yes")]


NO_PROVIDER = "no provider chosen yet"


class ReferralForm(ClientRecordForm):
    """From a need to a provider: type to search the service directory, pick, send.

    The provider is chosen by moving the cursor onto it; the line under the list names the
    choice, and that is what is saved.
    """

    form_title = "Referral"
    draft_form = "referral"
    DEFAULT_CSS = """
    ReferralForm #provider-chosen { padding-left: 16; color: $text-warning; }
    ReferralForm #provider-chosen.-chosen { color: $text; text-style: bold; }
    """

    def __init__(self, ref: ClientRef, need: str | None = None) -> None:
        super().__init__(ref)
        self.need = need
        self.need_from_assessment = need is None
        # The provider the worker chose (moved the cursor onto), kept across new searches: a
        # reloaded list never picks one on its own, and a change of need that the chosen
        # provider does not serve clears it and says so.
        self.chosen = None
        self._listed: dict[str, object] = {}  # id -> Provider, as last listed
        self._restore_provider: str | None = ""  # a restored draft's provider id, until it is listed
        self._need_shown: str | None = None

    def fields(self):
        need = domain.NeedDomain.label_of(self.need, "") if self.need else domain.NeedDomain.HOUSING.label
        yield FormRow("need", ChoiceInput(domain.NeedDomain.choices(), need, id="need_domain"), "need_domain")
        yield FormRow(
            "search",
            FieldInput(placeholder="type to search the service directory", id="provider_search"),
            "provider_search",
        )
        yield FormRow(
            "provider",
            OptionList(id="provider_id"),
            "provider_id",
            hint="↓ from the search, ↑↓ pick · providers for the need come first",
        )
        yield Static(NO_PROVIDER, id="provider-chosen", markup=False)
        # The consent to share with the chosen provider: on file (and until when), or what is missing.
        yield Static("", id="consent-line", markup=False)
        yield FormRow(
            "shares info",
            ChoiceInput(SHARE_CHOICES, SHARE_CHOICES[0][0], id="shares_info"),
            "shares_info",
            hint="identifying information needs written consent to share",
        )
        yield FormRow("send now", ChoiceInput(SEND_CHOICES, SEND_CHOICES[0][0], id="send_now"), "send_now")
        yield FormRow("note", NoteArea(placeholder="optional reason or note", id="reason"), "reason")

    def first_focus(self):
        return self.query_one("#provider_search", Input)

    def on_mount(self) -> None:
        super().on_mount()
        store = self.app.store
        if store is not None and self.need_from_assessment:
            self._load_levels(store)
        self._search()

    @work(thread=True, exit_on_error=False, group="previous")
    def _load_levels(self, store) -> None:
        self.post_message(PreviousLevels(records.latest_assessment_levels(store, self.ref.client_id)))

    def on_previous_levels(self, message: PreviousLevels) -> None:
        """Default the need to the most pressing one of the latest assessment, unless already changed."""
        field = self.query_one("#need_domain", ChoiceInput)
        if not message.levels or field.value != domain.NeedDomain.HOUSING.label or self._restore_provider != "":
            return  # (a restored draft says which need it is for)
        order = {need.value: n for n, need in enumerate(domain.NeedDomain)}
        need, (level, _) = min(message.levels.items(), key=lambda kv: (-kv[1][0], not kv[1][1], order.get(kv[0], 99)))
        if level >= 1:
            field.value = domain.NeedDomain(need).label
            self._initial = self.snapshot_values()
            self._search()

    @on(Input.Changed, "#provider_search")
    @on(Input.Changed, "#need_domain")
    def _search(self) -> None:
        store = self.app.store
        if store is None:
            return
        query = self.query_one("#provider_search", Input).value
        self._find_providers(store, query, self._need_value())

    def _need_value(self) -> str | None:
        try:
            return match_choice(
                self.query_one("#need_domain", ChoiceInput).value, domain.NeedDomain.choices(), "need_domain"
            )
        except ValidationError:
            return None

    @work(thread=True, exclusive=True, exit_on_error=False, group="providers")
    def _find_providers(self, store, query: str, need: str | None) -> None:
        found = records.search_providers(store, query, need=need, limit=30)
        self.post_message(ProvidersFound(query, need or "", found))

    def on_providers_found(self, message: ProvidersFound) -> None:
        # Dropped when the search text or the need changed while this search ran.
        if message.query != self.query_one("#provider_search", Input).value or message.need != (
            self._need_value() or ""
        ):
            return
        options = self.query_one("#provider_id", OptionList)
        serving = (
            {c.value for c in domain.CATEGORIES_FOR_NEED.get(domain.NeedDomain(message.need), ())}
            if message.need
            else set()
        )
        if (
            self.chosen is not None
            and message.need
            and message.need != self._need_shown
            and self._need_shown is not None
            and self.chosen.category not in serving
        ):
            # The need changed under a chosen provider that does not serve it.
            name = self.chosen.name
            self._choose(None)
            # Shown without moving the focus: the worker may still be typing in another field.
            self._provider_row().show_error(
                f"the need is now {domain.NeedDomain(message.need).label}: {name} does not serve it,"
                " so the choice was cleared — choose a provider"
            )
        self._need_shown = message.need or self._need_shown
        self._listed = {p.id: p for p in message.providers}
        options.clear_options()
        for p in message.providers:
            label = Text(p.name)
            label.append(
                f"  {domain.ServiceCategory(p.category).label}", style="bold" if p.category in serving else "dim"
            )
            options.add_option(Option(label, id=p.id))
        # Never a default: only the chosen provider is highlighted, and only if it is listed.
        if self._restore_provider and self._restore_provider in self._listed:
            self._choose(self._listed[self._restore_provider])  # the provider of a restored draft
            self._restore_provider = None
        ids = [p.id for p in message.providers]
        options.highlighted = ids.index(self.chosen.id) if self.chosen is not None and self.chosen.id in ids else None

    def _choose(self, provider) -> None:
        self.chosen = provider
        line = self.query_one("#provider-chosen", Static)
        if provider is None:
            line.update(NO_PROVIDER)
            line.remove_class("-chosen")
        else:
            line.update(f"chosen: {provider.name} · {domain.ServiceCategory(provider.category).label}")
            line.add_class("-chosen")
        self._show_consent(provider.id if provider is not None else None)

    def _show_consent(self, provider_id: str | None) -> None:
        """Say under the provider whether a current written consent to share with it is on file."""
        from vipterm.services.consent import sharing_consent_line

        line = self.query_one("#consent-line", Static)
        store = self.app.store
        if provider_id is None or store is None:
            line.update("")
            return
        client_id = self.ref.client_id

        def run() -> None:
            text = sharing_consent_line(store, client_id, provider_id)
            self.app.call_from_thread(self._consent_shown, provider_id, text)

        self.run_worker(run, thread=True, exclusive=True, exit_on_error=False, group="consent-line")

    def _consent_shown(self, provider_id: str, text: str) -> None:
        if self.chosen is not None and self.chosen.id == provider_id and self.is_attached:
            self.query_one("#consent-line", Static).update(text)

    @on(OptionList.OptionHighlighted, "#provider_id")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        provider = self._listed.get(event.option.id)
        if provider is None or (self.chosen is not None and provider.id == self.chosen.id):
            return
        self._choose(provider)
        self._provider_row().clear_error()

    def _provider_row(self) -> FormRow:
        return next(row for row in self.rows() if row.field_name == "provider_id")

    def on_key(self, event) -> None:
        search = self.query_one("#provider_search", Input)
        if search.has_focus and event.key == "down":
            options = self.query_one("#provider_id", OptionList)
            options.focus()
            if options.highlighted is None and options.option_count:
                options.highlighted = 0  # ↓ from the search lands on (and chooses) the first row
            event.stop()
            return
        super().on_key(event)

    @on(OptionList.OptionSelected, "#provider_id")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one("#send_now", ChoiceInput).focus()

    def snapshot_values(self):
        values = super().snapshot_values()
        values.pop("provider_search", None)  # searching is not a draft
        values["provider_id"] = getattr(getattr(self, "chosen", None), "id", None)
        return values

    def draft_fields(self) -> dict:
        fields = super().draft_fields()
        fields["provider_search"] = self.query_one("#provider_search", Input).value  # so the choice is listed
        return fields

    def restore_extra(self, fields: dict) -> None:
        provider = fields.get("provider_id")
        self._restore_provider = provider if isinstance(provider, str) else None

    def collect(self) -> records.ReferralDraft:
        need = match_choice(self.value("need_domain"), domain.NeedDomain.choices(), "need_domain")
        # The provider saved is the one shown as chosen, never whatever row the list holds now;
        # the service refuses to send without one (the message shows under the field).
        provider_id = self.chosen.id if self.chosen is not None else None
        send = match_choice(self.value("send_now"), SEND_CHOICES, "send_now") == "yes"
        shares = match_choice(self.value("shares_info"), SHARE_CHOICES, "shares_info") == "yes"
        return records.ReferralDraft(
            client_id=self.ref.client_id,
            need_domain=need,
            provider_id=provider_id,
            send_now=send,
            reason=self.value("reason"),
            shares_info=shares,
        )

    def save_record(self, store, draft):
        return records.create_referral(store, draft)

    def _saved(self, result) -> None:
        self.notify(f"referral for {self.ref.pseudonym} {'sent' if result.status == 'sent' else 'saved as draft'}")
        super()._saved(result)


class ReferralStatusForm(ClientRecordForm):
    """Move a referral along its statuses, with the reason (required for rejected/failed/cancelled)."""

    form_title = "Referral status"
    draft_form = "referral_status"

    def draft_key(self) -> str | None:
        return f"referral_status:{self.referral.id}"

    def __init__(self, ref: ClientRef, referral) -> None:
        super().__init__(ref)
        self.referral = referral
        current = domain.ReferralStatus(referral.status)
        self.allowed = [s for s in domain.ReferralStatus if s in domain.REFERRAL_TRANSITIONS[current]]

    def fields(self):
        r = self.referral
        current = domain.ReferralStatus(r.status)
        summary = f"{domain.NeedDomain(r.need_domain).label} → {r.provider_name} · now {current.label}"
        if r.stale:
            summary += f" · no change in {domain.STALE_REFERRAL_DAYS}+ days"
        yield Static(summary, id="referral-summary", markup=False)
        choices = [(s.label, s.value) for s in self.allowed]
        yield FormRow(
            "new status",
            ChoiceInput(choices, choices[0][0] if choices else "", id="status"),
            "status",
            hint="allowed: " + ", ".join(label for label, _ in choices),
        )
        yield FormRow(
            "reason", NoteArea(placeholder="why (needed for rejected, failed, cancelled)", id="reason"), "reason"
        )
        yield FormRow(
            "first service", FieldInput(placeholder="YYYY-MM-DD, optional", id="first_service_on"), "first_service_on"
        )
        yield FormRow("feedback", NoteArea(placeholder="what the provider said, optional", id="feedback"), "feedback")

    def collect(self):
        status = match_choice(self.value("status"), [(s.label, s.value) for s in self.allowed], "status")
        first = parse_date(
            self.value("first_service_on"), today=self.app.today(), field="first_service_on", required=False
        )
        feedback = self.value("feedback").strip() or None
        return dict(
            referral_id=self.referral.id,
            status=status,
            reason=self.value("reason"),
            first_service_on=first,
            feedback=feedback,
            at=None,
        )

    def save_record(self, store, draft):
        return records.set_referral_status(store, **draft)

    def _saved(self, result) -> None:
        self.notify(f"referral now {domain.ReferralStatus(result.status).label}")
        super()._saved(result)
