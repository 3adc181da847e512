"""The weekly review screen (`v` on the coordinator's caseload), keyboard only.

- `ReviewScreen`: one week's review: the incidents considered (day, area command, source) and
  the candidates identified, each with their planned custom notification (when, setting, team
  roles, follow-up worker, planned / attempted / called off). `[` / `]` go to the previous / next
  week; `i` adds an incident; `n` adds a new client as a candidate of the incident under the
  cursor (the intake's fields and its possible-duplicate question, then the plan); `e` makes an
  existing client a candidate (a client picker, then the plan); `x` calls off a plan (asks first);
  `enter` on a candidate opens the client.
- `IncidentForm`, `CandidateForm` (intake + plan), `PlanForm` (plan for an existing client): the
  plan's last field is the follow-up worker, chosen in `WorkerPicker` (type to filter, Enter picks)
  within the same save.
- `ClientPicker`: type a name, alias or id to choose an existing client.

Everything is read and written by `services.review` in thread workers.
"""

from __future__ import annotations

from datetime import date, timedelta

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, SelectionList, Static

from vipterm import domain
from vipterm.errors import ValidationError
from vipterm.services import caseload as caseload_service
from vipterm.services import records, review
from vipterm.tui import display
from vipterm.tui.base import VipScreen
from vipterm.tui.forms import ClientForm
from vipterm.tui.parsing import match_choice, parse_date
from vipterm.tui.pickers import ListPicker
from vipterm.tui.widgets import ChoiceInput, ConfirmModal, FormModal, FormRow, TickList

NOT_THE_COORDINATOR = (
    "the weekly review is kept on the coordinator's database; this laptop receives its "
    "clients' planned notifications in its next return bundle"
)
STATE_STYLE = {"planned": "bold magenta", "attempted": "green", "cancelled": "dim"}


class ReviewLoaded(Message):
    def __init__(self, week: date, view: review.ReviewView | None, generation: int) -> None:
        super().__init__()
        self.week = week
        self.view = view
        self.generation = generation


class ReviewScreen(VipScreen):
    """One week's review: incidents above, candidates and their plans below."""

    HELP_KEYS = (("tab", "incidents ⇄ candidates"), ("enter (candidates)", "open the client"))
    BINDINGS = [
        Binding("escape", "back", "back", id="review_back"),
        Binding("i", "add_incident", "incident", id="review_incident"),
        Binding("n", "new_candidate", "new candidate", id="review_new_candidate"),
        Binding("e", "existing_candidate", "existing client", id="review_existing_candidate"),
        Binding("x", "cancel_plan", "call off", id="review_cancel_plan"),
        Binding("left_square_bracket", "week(-1)", "prev week", id="review_prev_week"),
        Binding("right_square_bracket", "week(1)", "next week", id="review_next_week"),
    ]
    DEFAULT_CSS = """
    ReviewScreen #review-title { text-style: bold; }
    ReviewScreen .review-heading { color: $text-muted; }
    ReviewScreen #review-incidents { height: 7; }
    ReviewScreen #review-candidates { height: 1fr; }
    ReviewScreen #review-status { color: $text-muted; }
    """

    def __init__(self, week: date | None = None) -> None:
        super().__init__()
        self.week = week
        self.view: review.ReviewView | None = None
        self.generation = 0

    def compose(self) -> ComposeResult:
        yield Static("Weekly review", id="review-title", markup=False)
        yield Static("Incidents considered (i adds one)", classes="review-heading", markup=False)
        yield DataTable(id="review-incidents", cursor_type="row", zebra_stripes=True)
        yield Static(
            "Candidates and planned notifications (n new client · e existing client)",
            classes="review-heading",
            markup=False,
        )
        yield DataTable(id="review-candidates", cursor_type="row", zebra_stripes=True)
        yield Static("", id="review-status", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        incidents = self.query_one("#review-incidents", DataTable)
        incidents.add_column("day", width=10, key="day")
        incidents.add_column("area", width=10, key="area")
        incidents.add_column("source", width=16, key="source")
        incidents.add_column("candidates", width=10, key="count")
        candidates = self.query_one("#review-candidates", DataTable)
        candidates.add_column("id", width=10, key="id")
        candidates.add_column("name", width=14, key="name")
        candidates.add_column("notify", width=16, key="when")
        candidates.add_column("team", width=7, key="team")
        candidates.add_column("follow-up", width=10, key="worker")
        candidates.add_column("plan", width=9, key="state")
        if self.week is None:
            self.week = review.week_of(self.app.today())
        incidents.focus()
        self.reload()

    # --- data ------------------------------------------------------------------------------------

    def reload(self) -> None:
        store = self.store
        if store is None:
            return
        self.generation += 1
        self._load(store, self.week, self.generation)

    @work(thread=True, exclusive=True, exit_on_error=False, group="review")
    def _load(self, store, week: date, generation: int) -> None:
        found = review.find_review(store, week)
        view = review.review_view(store, found.id) if found is not None else None
        self.post_message(ReviewLoaded(week, view, generation))

    def on_review_loaded(self, message: ReviewLoaded) -> None:
        if message.generation != self.generation or self.store is None:
            return
        self.view = message.view
        self._draw()

    def _draw(self) -> None:
        week = self.week
        end = week + timedelta(days=6)
        held = f" · held by {self.view.held_by_name}" if self.view and self.view.held_by_name else ""
        self.query_one("#review-title", Static).update(
            f"Weekly review · week of {week.isoformat()} to {end.isoformat()}{held}   [ ] other weeks"
        )
        incidents = self.query_one("#review-incidents", DataTable)
        candidates = self.query_one("#review-candidates", DataTable)
        keep_incident = incidents.cursor_row
        keep_candidate = candidates.cursor_row
        incidents.clear()
        candidates.clear()
        view = self.view
        if view is None:
            self.query_one("#review-status", Static).update(
                "no review of this week yet: i adds the first incident, n or e the first candidate"
            )
            return
        per_incident: dict[str | None, int] = {}
        for c in view.candidates:
            per_incident[c.incident_id] = per_incident.get(c.incident_id, 0) + 1
        for inc in view.incidents:
            incidents.add_row(
                inc.occurred_on.isoformat(),
                domain.AreaCommand.label_of(inc.area_command),
                domain.IncidentSource(inc.source).label,
                str(per_incident.get(inc.id, 0)),
                key=inc.id,
            )
        for c in view.candidates:
            plan = c.plan
            when = plan.when if plan else "—"
            team = ",".join(_role_code(r) for r in plan.team_roles) if plan else ""
            state = Text(plan.state, style=STATE_STYLE.get(plan.state, "")) if plan else Text("")
            candidates.add_row(
                c.pseudonym,
                self.app.shown_name(c.name, c.pseudonym),
                when,
                team,
                (plan.serving_name or plan.worker_name) if plan else "",
                state,
                key=c.id,
            )
        if view.incidents:
            incidents.move_cursor(row=min(keep_incident, len(view.incidents) - 1))
        if view.candidates:
            candidates.move_cursor(row=min(keep_candidate, len(view.candidates) - 1))
        planned = sum(1 for c in view.candidates if c.plan and c.plan.state == "planned")
        self.query_one("#review-status", Static).update(
            f"{len(view.incidents)} incident{'s' if len(view.incidents) != 1 else ''} · "
            f"{len(view.candidates)} candidate{'s' if len(view.candidates) != 1 else ''} · {planned} to notify · "
            "team: P peer support · O officer · L community leader · C clergy · S provider"
        )

    def refresh_names(self) -> None:
        if self.view is not None:
            self._draw()

    def clear_for_lock(self) -> None:
        self.view = None
        self.query_one("#review-incidents", DataTable).clear()
        self.query_one("#review-candidates", DataTable).clear()
        self.query_one("#review-status", Static).update("locked")

    def after_unlock(self) -> None:
        self.reload()

    # --- what is under the cursor ------------------------------------------------------------------

    def current_incident_id(self) -> str | None:
        if self.view is None or not self.view.incidents:
            return None
        row = self.query_one("#review-incidents", DataTable).cursor_row
        return self.view.incidents[row].id if 0 <= row < len(self.view.incidents) else None

    def current_candidate(self) -> review.CandidateView | None:
        if self.view is None or not self.view.candidates:
            return None
        row = self.query_one("#review-candidates", DataTable).cursor_row
        return self.view.candidates[row] if 0 <= row < len(self.view.candidates) else None

    # --- actions -----------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_week(self, step: int) -> None:
        target = self.week + timedelta(days=7 * step)
        if target > review.week_of(self.app.today()):
            self.notify("that week is still ahead", timeout=3)
            return
        self.week = target
        self.view = None
        self._draw()
        self.reload()

    def _after_save(self, result) -> None:
        if result is None:
            return
        if isinstance(result, review.CandidateResult):
            who = "new client " if result.new_client else ""
            self.notify(
                f"{who}{result.pseudonym}: notification planned, follow-up by {result.worker_name} "
                "(their laptop receives it at its next sync)",
                timeout=6,
            )
        self.reload()

    def action_add_incident(self) -> None:
        if self.store is None:
            return
        self.app.push_screen(IncidentForm(self.week), self._after_save)

    def action_new_candidate(self) -> None:
        if self.store is None:
            return
        self.app.push_screen(CandidateForm(self.week, self.current_incident_id()), self._after_save)

    def action_existing_candidate(self) -> None:
        if self.store is None:
            return
        incident_id = self.current_incident_id()

        def picked(row: caseload_service.CaseloadRow | None) -> None:
            if row is not None:
                self.app.push_screen(PlanForm(self.week, incident_id, row), self._after_save)

        self.app.push_screen(ClientPicker(), picked)

    def action_cancel_plan(self) -> None:
        candidate = self.current_candidate()
        if candidate is None or candidate.plan is None or candidate.plan.state != "planned":
            self.notify("no planned notification under the cursor to call off", timeout=3)
            return
        plan_id = candidate.plan.id

        def answered(yes: bool | None) -> None:
            if yes and self.store is not None:
                self._cancel(self.store, plan_id)

        self.app.push_screen(ConfirmModal(f"Call off the notification planned for {candidate.pseudonym}?"), answered)

    @work(thread=True, exit_on_error=False, group="review-write")
    def _cancel(self, store, plan_id: str) -> None:
        review.cancel_plan(store, plan_id)
        self.app.call_from_thread(self.reload)

    @on(DataTable.RowSelected, "#review-candidates")
    def _open_client(self) -> None:
        candidate = self.current_candidate()
        if candidate is not None:
            self.app.open_client(candidate.client_id)


def _role_code(role: str) -> str:
    return {"peer_support": "P", "police": "O", "community_leader": "L", "clergy": "C", "service_provider": "S"}.get(
        role, "?"
    )


# --- forms ----------------------------------------------------------------------------------------


class IncidentForm(FormModal):
    """An incident the review considers: its day, area command and source (no narrative)."""

    form_title = "Incident considered"

    def __init__(self, week: date) -> None:
        super().__init__()
        self.week = week

    def fields(self):
        yield FormRow("day", Input(self.app.today().isoformat(), id="occurred_on"), "occurred_on")
        yield FormRow(
            "area",
            ChoiceInput(
                domain.AreaCommand.choices(), "", id="area_command", placeholder="Southeast, Valley, … (N/A if unknown)"
            ),
            "area_command",
        )
        yield FormRow(
            "source",
            ChoiceInput(domain.IncidentSource.choices(), domain.IncidentSource.SHOOTING_REVIEW.label, id="source"),
            "source",
        )

    def collect(self) -> review.IncidentDraft:
        today = self.app.today()
        day = parse_date(self.value("occurred_on"), today=today, field="occurred_on")
        if day > today:
            raise ValidationError("the incident's day is in the future", field="occurred_on")
        return review.IncidentDraft(
            occurred_on=day,
            area_command=match_choice(
                self.value("area_command"), domain.AreaCommand.choices(), "area_command", required=False
            )
            or "na",
            source=match_choice(self.value("source"), domain.IncidentSource.choices(), "source"),
        )

    def save_record(self, store, draft):
        rv = review.open_review(store, self.week)
        return review.add_incident(store, rv.id, draft)


class PlanFields:
    """The planned notification's fields, for `CandidateForm` and `PlanForm`: the day, the optional
    time, the setting, the team roles going and, last, the follow-up worker (chosen in a picker
    when the form is saved, or with Enter in that field)."""

    chosen_worker: review.WorkerChoice | None = None

    def plan_fields(self):
        yield FormRow("notify on", Input(self.app.today().isoformat(), id="planned_on"), "planned_on")
        yield FormRow("time", Input(placeholder="HH:MM, optional", id="planned_time"), "planned_time")
        yield FormRow(
            "setting",
            ChoiceInput(domain.NotificationSetting.choices(), domain.NotificationSetting.HOME.label, id="setting"),
            "setting",
        )
        roles = TickList(
            *[
                (r.label, r.value, r is domain.TeamRole.PEER_SUPPORT)
                for r in domain.TeamRole
                if r is not domain.TeamRole.OTHER
            ],
            id="team_roles",
        )
        yield FormRow("team going", roles, "team_roles", hint="space ticks a role")
        yield FormRow(
            "follow-up by", Input(placeholder="worker: type a name, enter chooses", id="worker_id"), "worker_id"
        )

    def collect_plan(self) -> review.PlanDraft:
        today = self.app.today()
        return review.PlanDraft(
            planned_on=parse_date(self.value("planned_on"), today=today, field="planned_on"),
            planned_time=review.parse_time(self.value("planned_time")),
            setting=match_choice(self.value("setting"), domain.NotificationSetting.choices(), "setting"),
            team_roles=list(self.query_one("#team_roles", SelectionList).selected),
            worker_id=self.chosen_worker.id if self.chosen_worker else None,
        )

    @on(Input.Changed, "#worker_id")
    def _worker_typed(self, event: Input.Changed) -> None:
        if self.chosen_worker is not None and event.value != self.chosen_worker.name:
            self.chosen_worker = None  # typed over the choice: choose again

    def action_save(self) -> None:
        if self.chosen_worker is None and not self.saving:
            # Everything else first: the picker opens only for a form that would otherwise save.
            self.clear_errors()
            try:
                self.collect()
            except ValidationError as exc:
                if not self.show_field_error(exc.field or "", exc.message):
                    self.notify(exc.message, severity="error")
                return
            self.choose_worker(then_save=True)
            return
        super().action_save()

    def choose_worker(self, *, then_save: bool) -> None:
        def picked(choice: review.WorkerChoice | None) -> None:
            if choice is None:
                self.show_field_error("worker_id", "choose the worker who will follow up")
                return
            self.chosen_worker = choice
            field = self.query_one("#worker_id", Input)
            field.value = choice.name
            self.chosen_worker = choice  # the Changed event above is posted, not sent: keep the choice
            if then_save:
                self.action_save()

        self.app.push_screen(WorkerPicker(self.query_one("#worker_id", Input).value), picked)


class CandidateForm(PlanFields, ClientForm):
    """A new client identified by the review: the intake's fields (and its possible-duplicate
    question), then the planned notification."""

    form_title = "New candidate · intake and planned notification"
    draft_form = None  # a review form keeps no crash draft (the review itself is saved row by row)

    def __init__(self, week: date, incident_id: str | None) -> None:
        super().__init__()
        self.week = week
        self.incident_id = incident_id

    def draft_key(self) -> str | None:
        return None

    def fields(self):
        for row in super().fields():
            if row.field_name != "identified_on":  # identified today, by this review
                yield row
        yield from self.plan_fields()

    def collect(self) -> review.CandidateDraft:
        if not (self.value("first_name").strip() or self.value("last_name").strip() or self.value("aka").strip()):
            raise ValidationError("a name or an alias is required", field="first_name")
        today = self.app.today()
        dob = parse_date(self.value("date_of_birth"), today=today, field="date_of_birth", required=False)
        if dob is not None and dob > today:
            raise ValidationError("the date of birth is in the future", field="date_of_birth")
        plan = self.collect_plan()
        client = records.ClientDraft(
            first_name=self.value("first_name"),
            last_name=self.value("last_name"),
            aka=self.value("aka"),
            date_of_birth=dob,
            phone=self.value("phone"),
            area_command=match_choice(
                self.value("area_command"), domain.AreaCommand.choices(), "area_command", required=False
            )
            or "na",
            referral_source=match_choice(
                self.value("referral_source"), domain.ReferralSource.choices(), "referral_source"
            ),
            age_group=match_choice(self.value("age_group"), domain.AgeGroup.choices(), "age_group", required=False),
            risk_flags=list(self.query_one("#risk_flags", SelectionList).selected),
            confirm_duplicate=self.take_confirmation(),
        )
        return review.CandidateDraft(review_id="", plan=plan, incident_id=self.incident_id, client=client)

    def save_record(self, store, draft):
        draft.review_id = review.open_review(store, self.week).id
        return review.add_candidate(store, draft)


class PlanForm(PlanFields, FormModal):
    """An existing client as a candidate: the planned notification only."""

    def __init__(self, week: date, incident_id: str | None, row: caseload_service.CaseloadRow) -> None:
        super().__init__()
        self.week = week
        self.incident_id = incident_id
        self.row = row

    def title_line(self) -> str:
        return f"Candidate {self.row.pseudonym} {self.app.shown_name(self.row.name, self.row.pseudonym)} · planned notification"

    def fields(self):
        flags = TickList(*[(f.label, f.value, False) for f in domain.RiskFlag], id="risk_flags")
        yield FormRow("risk flags seen", flags, "risk_flags", hint="added to the client's")
        yield from self.plan_fields()

    def collect(self) -> review.CandidateDraft:
        return review.CandidateDraft(
            review_id="",
            plan=self.collect_plan(),
            incident_id=self.incident_id,
            client_id=self.row.client_id,
            risk_flags=list(self.query_one("#risk_flags", SelectionList).selected),
        )

    def save_record(self, store, draft):
        draft.review_id = review.open_review(store, self.week).id
        return review.add_candidate(store, draft)


# --- pickers --------------------------------------------------------------------------------------


class WorkerPicker(ListPicker):
    """The worker who will follow up: the active staff, with their open clients."""

    title_text = "Who follows up? (the client is assigned to them)"
    placeholder = "type a worker's name"
    empty_text = "no active worker: `vipterm workers add NAME` adds one"

    def read(self, store) -> list:
        return review.active_workers(store)

    def matching(self, query: str) -> list:
        words = domain.fold(query).split()
        return [w for w in self.items if all(x in domain.fold(w.name) for x in words)]

    def label(self, item: review.WorkerChoice) -> str:
        return f"{item.name}  · {item.open_clients} open client{'s' if item.open_clients != 1 else ''}"


class ClientPicker(ListPicker):
    """An existing client (open ones), found by name, alias, id, area or status."""

    title_text = "Which existing client is the candidate?"
    placeholder = "type a name, alias or id"
    empty_text = "no open clients yet: n adds a new one"

    def read(self, store) -> list:
        return caseload_service.caseload(store, worker_id=None)

    def matching(self, query: str) -> list:
        return caseload_service.filter_rows(self.items, query)

    def label(self, item: caseload_service.CaseloadRow) -> str:
        return (
            f"{item.pseudonym}  {self.app.shown_name(item.name, item.pseudonym)} · {display.status_label(item.status)}"
        )
