"""The client file: who the client is, what is open (referrals, the next follow-up) and everything
that happened (notifications, contacts, assessments, referrals, outcomes), newest first.

Every action on the client is one key from here. Opening the file shows identifying data, so it
is recorded in the audit log (in a worker, once per opening).
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from vipterm import domain
from vipterm.services import caseload as caseload_service
from vipterm.tui import display
from vipterm.tui.base import VipScreen
from vipterm.tui.field_work import FieldWorkActions, follow_up_label
from vipterm.tui.messages import ClientFileLoaded, ClientRef
from vipterm.tui.widgets import ClientFormActions


class ReferralTable(DataTable):
    """The client's referrals; Enter changes the status of the one under the cursor."""


class TimelineTable(DataTable):
    """Everything that happened, newest first; Enter opens the entry under the cursor in full."""


class FollowUpTable(DataTable):
    """Every open follow-up: due date, kind, note; `d` on one asks how it was closed."""


class ClientFileScreen(FieldWorkActions, ClientFormActions, VipScreen):
    # The referrals take the focus first, as before the follow-up list above them existed.
    AUTO_FOCUS = "#cf-referrals, #cf-timeline"
    HELP_KEYS = (
        ("tab", "referrals ⇄ timeline"),
        ("enter (referral)", "change the referral's status"),
        ("enter (timeline)", "the whole entry: note, who, when, fields"),
    )
    BINDINGS = [
        Binding("escape", "back", "back", id="back", show=False),
        Binding("l", "log_contact", "log", id="log_contact"),
        Binding("u", "notification", "notify", id="notification"),
        Binding("a", "assessment", "assess", id="assessment"),
        Binding("r", "referral", "refer", id="referral"),
        Binding("t", "referral_status", "status", id="referral_status"),
        Binding("o", "outcome", "outcome", id="outcome"),
        Binding("f", "follow_up", "follow", id="follow_up"),
        Binding("d", "follow_up_done", "done…", id="follow_up_done", show=False),
        Binding("A", "log_attempt", "attempt", id="log_attempt", show=False),
        Binding("e", "edit_client", "edit", id="edit_client"),
        Binding("C", "close_or_reopen", "close/reopen", id="close_client", show=False),
        Binding("c", "correct_fact", "correct", id="correct_fact", show=False),
        Binding("x", "void_fact", "void", id="void_fact", show=False),
        Binding("h", "field_history", "history", id="field_history", show=False),
        Binding("k", "consent", "consent", id="consent", show=False),
        Binding("p", "safety_plan", "safety plan", id="safety_plan", show=False),
        Binding("f5", "reload", "reload", id="reload", show=False),
    ]

    def __init__(self, client_id: str) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_file: caseload_service.ClientFile | None = None
        self.timeline_rows: list = []  # as shown, newest first
        self.referral_rows: list = []  # as shown: open ones first
        self.generation = 0
        self.audited = False
        self._summary_width = 0
        self.consents: list = []  # services.consent.ConsentRow, current first
        self.safety_plan = None

    def compose(self) -> ComposeResult:
        yield Static("loading…", id="cf-header", markup=False)
        yield Static("Follow-ups", id="cf-follow-ups-title", classes="section-title")
        yield FollowUpTable(id="cf-follow-ups", cursor_type="row")
        yield Static("Referrals", id="cf-referrals-title", classes="section-title")
        yield ReferralTable(id="cf-referrals", cursor_type="row")
        yield Static("Timeline", id="cf-timeline-title", classes="section-title")
        yield TimelineTable(id="cf-timeline", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        referrals = self.query_one(ReferralTable)
        referrals.add_column("need", width=16, key="need")
        referrals.add_column("provider", width=26, key="provider")
        referrals.add_column("status", width=20, key="status")
        referrals.add_column("since", width=6, key="since")
        follow_ups = self.query_one(FollowUpTable)
        follow_ups.add_column("due", width=40, key="due")
        follow_ups.add_column("note", key="note")
        follow_ups.display = False
        self.query_one("#cf-follow-ups-title", Static).display = False
        self.reload()

    def _timeline_columns(self) -> None:
        # Who recorded each entry and on which device: a column of its own, wider on a wide
        # screen (enter shows it whole, with the bundle it came in).
        by = 30 if self.size.width >= 120 else 16
        width = max(20, self.size.width - 38 - by)
        if width == self._summary_width:
            return
        self._summary_width = width
        timeline = self.query_one(TimelineTable)
        timeline.clear(columns=True)
        timeline.add_column("when", width=16, key="when")
        timeline.add_column("what", width=12, key="kind")
        timeline.add_column("by", width=by, key="by")
        timeline.add_column("", width=width, key="summary")

    def on_resize(self) -> None:
        self._show_file()

    # --- data ------------------------------------------------------------------------------------

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        store = self.store
        if store is None:
            return
        self.generation += 1
        self._load(store, self.generation, audit=not self.audited)
        self.audited = True

    @work(thread=True, exclusive=True, exit_on_error=False, group="client-file")
    def _load(self, store, generation: int, audit: bool) -> None:
        from vipterm.services import records
        from vipterm.tui.consent_forms import load_consents

        cf = caseload_service.client_file(store, self.client_id)
        if audit:
            records.record_audit(store, domain.AuditAction.VIEW_IDENTITY, self.client_id, "tui client file")
        self.post_message(load_consents(store, self.client_id, generation))
        self.post_message(ClientFileLoaded(cf, generation))

    def on_consents_loaded(self, message) -> None:
        if message.generation != self.generation or self.store is None:
            return
        self.consents, self.safety_plan = message.consents, message.plan
        self._show_file()

    def on_client_file_loaded(self, message: ClientFileLoaded) -> None:
        if message.generation != self.generation or self.store is None:
            return
        self.client_file = message.client_file
        self._show_file()

    def ref(self) -> ClientRef | None:
        cf = self.client_file
        if cf is None:
            return None
        return ClientRef(cf.client.id, cf.client.pseudonym, cf.name, cf.client.area_command)

    def _show_file(self) -> None:
        cf = self.client_file
        if cf is None or self.store is None:
            return
        today = self.app.today()
        c = cf.client
        flags = [f for f in c.risk_flags.split(",") if f]
        status = display.status_label(c.status)
        if c.status == domain.ClientStatus.CLOSED.value and c.closed_reason:
            status += (
                f": {domain.ClosedReason(c.closed_reason).label}"
                if c.closed_reason in domain.ClosedReason._value2member_map_
                else ""
            )
            status += f" on {c.closed_on.isoformat()}" if c.closed_on else ""
        lines = [
            f"{c.pseudonym}  {self.app.shown_name(cf.name, c.pseudonym)}   [{status}]",
            f"{domain.AgeGroup.label_of(c.age_group)} · {domain.AreaCommand.label_of(c.area_command)} · worker {cf.worker_name}"
            f" · identified {c.identified_on.isoformat()}",
            "flags: " + (display.flag_labels(flags) or "none"),
        ]
        # The weekly review's plan for this client, until an attempt is recorded (u records one).
        lines += [f"notification planned: {plan}" for plan in cf.planned]
        nxt = cf.next_follow_up
        follow = "next follow-up: none scheduled (f adds one)"
        if nxt is not None:
            kind = (
                domain.FollowUpKind(nxt.kind).label if nxt.kind in domain.FollowUpKind._value2member_map_ else nxt.kind
            )
            follow = f"next follow-up: {nxt.due_on.isoformat()} {kind} ({display.due_in(nxt.due_on, today)})"
            if nxt.overdue:
                follow += " OVERDUE"
            if len(cf.follow_ups) > 1:
                follow += f" · {len(cf.follow_ups) - 1} more open"
        last = f"last contact: {display.ago(cf.last_contact, today)}" if cf.last_contact else "last contact: never"
        lines.append(f"{follow} · {last}")
        from vipterm.tui.consent_forms import header_line

        lines.append(header_line(self.consents, self.safety_plan, today))
        self.query_one("#cf-header", Static).update("\n".join(lines))

        self._show_follow_ups(cf, today)

        open_refs = [r for r in cf.referrals if r.status in {s.value for s in domain.OPEN_REFERRAL_STATUSES}]
        stale = sum(1 for r in cf.referrals if r.stale)
        title = f"Referrals · {len(open_refs)} open"
        if stale:
            title += f" · {stale} stale (no change in {domain.STALE_REFERRAL_DAYS} days): t updates the status"
        self.query_one("#cf-referrals-title", Static).update(title)
        referrals = self.query_one(ReferralTable)
        keep = referrals.cursor_row
        referrals.clear()
        open_values = {s.value for s in domain.OPEN_REFERRAL_STATUSES}
        self.referral_rows = sorted(cf.referrals, key=lambda r: r.status not in open_values)  # open first
        for r in self.referral_rows:
            status = Text(domain.ReferralStatus(r.status).label)
            if r.stale:
                status.append(" · stale", style="bold yellow")
            referrals.add_row(
                domain.NeedDomain(r.need_domain).label,
                r.provider_name,
                status,
                display.ago(self.app.to_local(r.status_changed_at), today),
                key=r.id,
            )
        if referrals.row_count:
            referrals.move_cursor(row=min(keep, referrals.row_count - 1))
        referrals.display = bool(cf.referrals)

        self._timeline_columns()
        timeline = self.query_one(TimelineTable)
        timeline.clear()
        self.timeline_rows = list(cf.timeline)
        for entry in cf.timeline:
            if entry.timed:
                when = self.app.to_local(entry.when).strftime("%Y-%m-%d %H:%M")
            else:
                when = entry.when.strftime("%Y-%m-%d")
            summary = entry.summary
            for prefix in ("contact ", "referral ", "outcome "):
                if entry.kind == prefix.strip() and summary.startswith(prefix):
                    summary = summary[len(prefix) :]  # the "what" column already says it
            if entry.note:
                # One line here (enter shows the whole note): its line breaks become ↵.
                summary += " — " + " ↵ ".join(self.app.shown_note(entry.note).splitlines())
            if entry.corrected:
                how, _, why = entry.corrected.partition(": ")
                summary = f"[{how.upper()}] {summary} (why: {self.app.shown_note(why)})"
            by = entry.recorded_by or "unknown worker"
            if entry.device:  # not known for records made before vipterm kept it
                by += f" · {entry.device}"
            timeline.add_row(when, entry.kind.replace("_", " "), by, summary, key=f"{entry.kind}:{entry.record_id}")
        self.query_one("#cf-timeline-title", Static).update(f"Timeline · {len(cf.timeline)} entries")
        if self.focused is None:
            (referrals if open_refs else timeline).focus()

    def _show_follow_ups(self, cf, today) -> None:
        """Every open follow-up with its kind, date and note (the header names only the next)."""
        table = self.query_one(FollowUpTable)
        keep = table.cursor_row
        table.clear()
        for f in cf.follow_ups:
            label = Text(follow_up_label(f, today), style="bold red" if f.overdue else "")
            table.add_row(label, self.app.shown_note(f.note) if f.note else "", key=f.id)
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
        table.display = bool(cf.follow_ups)
        title = self.query_one("#cf-follow-ups-title", Static)
        title.display = bool(cf.follow_ups)
        title.update(f"Follow-ups · {len(cf.follow_ups)} open · d closes one (asks how)")

    # --- keys ------------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def _form(self, kind: str, **extra) -> None:
        ref = self.ref()
        if ref is None:
            return
        self.app.open_form(kind, ref, self._after_form, **extra)

    def _after_form(self, result) -> None:
        if result is not None:
            self.reload()  # the caseload beneath reloads when it is shown again
            from vipterm.store.models import Client
            from vipterm.tui.consent_forms import after_record

            if isinstance(result, Client):  # an edit that flags retaliation risk offers a safety plan
                after_record(self, self.ref(), result)

    @on(DataTable.RowSelected, "#cf-timeline")
    def _timeline_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_show_entry()

    def action_show_entry(self) -> None:
        """The timeline entry under the cursor in full: note, who recorded it, when, its fields."""
        from vipterm.tui.entry_detail import EntryDetailModal

        table = self.query_one(TimelineTable)
        if self.client_file is None or not (0 <= table.cursor_row < len(self.timeline_rows)):
            return
        cf = self.client_file
        self.app.push_screen(
            EntryDetailModal(
                self.timeline_rows[table.cursor_row],
                f"{cf.client.pseudonym} {self.app.shown_name(cf.name, cf.client.pseudonym)}",
            )
        )

    @on(DataTable.RowSelected, "#cf-referrals")
    def _referral_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_referral_status()

    def action_referral_status(self) -> None:
        cf = self.client_file
        if cf is None:
            return
        if not cf.referrals:
            self.notify("no referrals yet: r makes one", severity="warning")
            return
        table = self.query_one(ReferralTable)
        index = table.cursor_row if 0 <= table.cursor_row < len(self.referral_rows) else 0
        referral = self.referral_rows[index]
        if not domain.REFERRAL_TRANSITIONS[domain.ReferralStatus(referral.status)]:
            self.notify(
                f"this referral is {domain.ReferralStatus(referral.status).label}; it cannot change", severity="warning"
            )
            return
        self._form("referral_status", referral=referral)

    # --- e: edit, C: close or reopen -------------------------------------------------------------

    def action_edit_client(self) -> None:
        from vipterm.tui.client_forms import ClientEditForm

        cf, ref = self.client_file, self.ref()
        if cf is None or ref is None:
            return
        if self.app.masked:
            self.notify("the privacy mask is on: turn it off (f2) to edit who the client is", severity="warning")
            return
        self.app.push_screen(ClientEditForm(ref, cf.client, cf.identity), self._after_form)

    # --- k: consent, p: safety plan ---------------------------------------------------------------

    def action_consent(self) -> None:
        from vipterm.tui.consent_forms import ConsentForm

        ref = self.ref()
        if ref is not None:
            self.app.push_screen(ConsentForm(ref, self.consents), self._after_form)

    def action_safety_plan(self) -> None:
        from vipterm.tui.consent_forms import SafetyPlanForm

        ref = self.ref()
        if ref is not None:
            self.app.push_screen(SafetyPlanForm(ref, self.safety_plan), self._after_form)

    def action_field_history(self) -> None:
        from vipterm.tui.client_forms import FieldHistoryModal

        ref = self.ref()
        if ref is not None:
            self.app.push_screen(FieldHistoryModal(ref))

    def action_close_or_reopen(self) -> None:
        from vipterm.tui.client_forms import CloseReasonModal
        from vipterm.tui.widgets import ConfirmModal

        cf, ref = self.client_file, self.ref()
        if cf is None or ref is None:
            return
        if cf.client.status in (domain.ClientStatus.CLOSED.value, domain.ClientStatus.INACTIVE.value):
            question = f"Reopen {ref.pseudonym}? They come back to the caseload."
            self.app.push_screen(
                ConfirmModal(question), lambda yes: self._close_client_in_thread(self.store, ref, None) if yes else None
            )
            return

        def reason_chosen(reason: str | None) -> None:
            if reason is None:
                return
            label = domain.ClosedReason(reason).label
            question = f"Close {ref.pseudonym} ({label})? They leave the caseload and stay in the report."
            self.app.push_screen(
                ConfirmModal(question),
                lambda yes: self._close_client_in_thread(self.store, ref, reason) if yes else None,
            )

        self.app.push_screen(CloseReasonModal(ref.pseudonym), reason_chosen)

    @work(thread=True, group="close-client")
    def _close_client_in_thread(self, store, ref: ClientRef, reason: str | None) -> None:
        from vipterm.services import records

        if store is None:
            return
        if reason is None:
            client = records.reopen_client(store, ref.client_id)
            done = f"{ref.pseudonym} reopened ({display.status_label(client.status)})"
        else:
            records.close_client(store, ref.client_id, reason)
            done = f"{ref.pseudonym} closed: {domain.ClosedReason(reason).label}"
        self.app.call_from_thread(self._after_closing, done)

    def _after_closing(self, done: str) -> None:
        self.notify(done)
        self.reload()

    # --- c: correct, x: void the timeline entry under the cursor ------------------------------------

    CORRECTABLE = {
        "contact": "contact",
        "notification": "notification_attempt",
        "outcome": "outcome",
        "referral": "referral",
    }

    def _selected_entry(self):
        """The timeline entry under the timeline's cursor, or None (with the reason said)."""
        cf = self.client_file
        table = self.query_one(TimelineTable)
        if cf is None or not table.row_count:
            self.notify("the timeline is empty", severity="warning")
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value or ""
        kind, _, record_id = key.partition(":")
        entry = next((e for e in cf.timeline if e.kind == kind and e.record_id == record_id), None)
        if entry is None:
            return None
        if entry.corrected:
            self.notify("this entry was already corrected or voided", severity="warning")
            return None
        if kind not in self.CORRECTABLE:
            self.notify(
                f"a {kind.replace('_', ' ')} is not corrected here: contacts, notifications, outcomes "
                "and referral status changes are",
                severity="warning",
            )
            return None
        return entry

    def action_correct_fact(self) -> None:
        entry, ref = self._selected_entry(), self.ref()
        if entry is None or ref is None or self.store is None:
            return
        if entry.kind == "referral":
            self.notify("a referral's status: x voids its latest change, then t sets the right one", severity="warning")
            return
        self._load_fact(self.store, ref, entry.kind, entry.record_id)

    @work(thread=True, group="correct-fact")
    def _load_fact(self, store, ref: ClientRef, kind: str, record_id: str) -> None:
        from vipterm.store.models import Contact, NotificationAttempt, Outcome

        model = {"contact": Contact, "notification": NotificationAttempt, "outcome": Outcome}[kind]
        with store.read() as session:
            fact = session.get(model, record_id)
        if fact is not None:
            self.app.call_from_thread(self._open_correction, ref, kind, fact)

    def _open_correction(self, ref: ClientRef, kind: str, fact) -> None:
        from vipterm.tui.client_forms import correction_form

        if self.store is None or not self.is_attached:
            return
        self.app.push_screen(correction_form(kind, ref, fact), self._after_form)

    def action_void_fact(self) -> None:
        from vipterm.tui.client_forms import VoidReasonForm
        from vipterm.tui.widgets import ConfirmModal

        entry, ref = self._selected_entry(), self.ref()
        if entry is None or ref is None:
            return
        what = "the referral's latest status change" if entry.kind == "referral" else f"this {entry.kind}"
        when = (
            self.app.to_local(entry.when).strftime("%Y-%m-%d %H:%M") if entry.timed else entry.when.strftime("%Y-%m-%d")
        )

        def reason_given(reason: str | None) -> None:
            if not reason:
                return
            question = (
                f"Void {what} of {ref.pseudonym} ({when})? It stays in the history, marked voided, and counts nowhere."
            )
            self.app.push_screen(
                ConfirmModal(question),
                lambda yes: self._void_in_thread(self.store, ref, entry.kind, entry.record_id, reason) if yes else None,
            )

        self.app.push_screen(VoidReasonForm(f"Void {what} · {ref.pseudonym} · {when}"), reason_given)

    @work(thread=True, group="void-fact")
    def _void_in_thread(self, store, ref: ClientRef, kind: str, record_id: str, reason: str) -> None:
        from vipterm.services import corrections

        if store is None:
            return
        table = self.CORRECTABLE[kind]
        if table == "referral":
            table, record_id = "referral_event", corrections.latest_referral_event(store, record_id)
        corrections.void_fact(store, table, record_id, reason)
        self.app.call_from_thread(self._after_void, f"voided; it stays in {ref.pseudonym}'s history, marked")

    def _after_void(self, done: str) -> None:
        self.notify(done)
        self.reload()

    # `d` asks which follow-up and what happened, `A` logs an unreached attempt (tui.field_work).

    def field_work_target(self) -> ClientRef | None:
        return self.ref()

    def selected_follow_up_id(self) -> str | None:
        table = self.query_one(FollowUpTable)
        if not table.has_focus or not table.row_count:
            return None  # the earliest open one
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    def action_follow_up_done(self) -> None:
        if self.client_file is not None and self.client_file.next_follow_up is None:
            self.notify("no open follow-up", severity="warning")
            return
        super().action_follow_up_done()

    def after_field_work(self, client_id: str) -> None:
        self.reload()

    # --- lock and mask ---------------------------------------------------------------------------

    def refresh_names(self) -> None:
        self._show_file()

    def clear_for_lock(self) -> None:
        self.generation += 1
        self.client_file = None
        self.referral_rows = []
        self.timeline_rows = []
        self.consents, self.safety_plan = [], None
        self.query_one("#cf-header", Static).update("locked")
        self.query_one(ReferralTable).clear()
        self.query_one(FollowUpTable).clear()
        self.query_one(TimelineTable).clear()

    def after_unlock(self) -> None:
        self.reload()
