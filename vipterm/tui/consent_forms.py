"""The client file's consent form (`k`) and safety plan form (`p`), and the offer to open the
safety plan when an urgent safety need or the retaliation-risk flag is recorded.

Both save through `vipterm.services.consent` in a thread; a refusal shows under its field and the
form keeps what was typed. The consent form lists the client's consents above its fields (current
ones first); the safety plan form opens on the current plan.
"""

from __future__ import annotations

from textual.widgets import Static

from vipterm import domain
from vipterm.errors import ValidationError
from vipterm.services import consent as consent_service
from vipterm.tui.messages import ClientRef
from vipterm.tui.parsing import match_choice, parse_date
from vipterm.tui.widgets import ChoiceInput, FieldInput, FormModal, FormRow, NoteArea


class ConsentForm(FormModal):
    """Record a consent: what, with which provider (sharing), how, given on, expiry, note."""

    form_title = "Consent"

    def __init__(self, ref: ClientRef, consents: list | None = None) -> None:
        super().__init__()
        self.ref = ref
        self.consents = consents or []

    def title_line(self) -> str:
        return f"{self.form_title} · {self.ref.pseudonym}"

    def fields(self):
        shown = [r.summary for r in self.consents[:4]] or ["no consents recorded yet"]
        more = len(self.consents) - 4
        yield Static(
            "\n".join(shown) + (f"\n… {more} more (vipterm clients consent ID list)" if more > 0 else ""),
            id="consent-current",
            markup=False,
        )
        yield FormRow("consent to", ChoiceInput(domain.ConsentKind.choices(), "", id="kind"), "kind")
        yield FormRow(
            "provider", FieldInput(placeholder="sharing only: the provider's name", id="provider"), "provider_id"
        )
        yield FormRow(
            "how",
            ChoiceInput(domain.ConsentMethod.choices(), domain.ConsentMethod.WRITTEN.label, id="method"),
            "method",
        )
        yield FormRow("given on", FieldInput("today", placeholder="YYYY-MM-DD or today", id="given_on"), "given_on")
        yield FormRow("expires", FieldInput(placeholder="YYYY-MM-DD, optional", id="expires_on"), "expires_on")
        yield FormRow("note", NoteArea(placeholder="optional", id="note"), "note")

    def collect(self) -> dict:
        today = self.app.today()
        kind = match_choice(self.value("kind"), domain.ConsentKind.choices(), "kind")
        method = match_choice(self.value("method"), domain.ConsentMethod.choices(), "method")
        given = parse_date(self.value("given_on"), today=today, field="given_on")
        expires = parse_date(self.value("expires_on"), today=today, field="expires_on", required=False)
        provider = self.value("provider").strip()
        if kind == domain.ConsentKind.SHARE_PROVIDER.value and not provider:
            raise ValidationError("consent to share names the provider it is shared with", field="provider_id")
        return dict(
            kind=kind, method=method, given_on=given, expires_on=expires, provider=provider, note=self.value("note")
        )

    def save_record(self, store, draft):
        from vipterm.services import records

        provider_id = None
        if draft["provider"]:
            text = draft["provider"].lower()
            found = [
                p for p in records.search_providers(store, "", limit=10_000) if p.name.lower() == text
            ] or records.search_providers(store, draft["provider"], limit=2)
            if len(found) != 1:
                raise ValidationError(
                    "no single provider in the directory has that name"
                    if not found
                    else "several providers match: type more of the name",
                    field="provider_id",
                )
            provider_id = found[0].id
        return consent_service.add_consent(
            store,
            self.ref.client_id,
            draft["kind"],
            method=draft["method"],
            given_on=draft["given_on"],
            expires_on=draft["expires_on"],
            provider_id=provider_id,
            note=draft["note"],
        )

    def _saved(self, result) -> None:
        self.notify(f"consent recorded for {self.ref.pseudonym}")
        super()._saved(result)


class SafetyPlanForm(FormModal):
    """The client's safety plan: threats or conflicts in general terms, safe contacts, safe places,
    places to avoid, the check-in plan, and the day of the next review."""

    form_title = "Safety plan"

    def __init__(self, ref: ClientRef, plan=None) -> None:
        super().__init__()
        self.ref = ref
        self.plan = plan

    def title_line(self) -> str:
        return f"{self.form_title} · {self.ref.pseudonym}"

    def fields(self):
        plan = self.plan
        for name in consent_service.PLAN_PARTS:
            label = {
                "threats": "threats",
                "safe_contacts": "safe contacts",
                "safe_places": "safe places",
                "places_to_avoid": "avoid",
                "check_in_plan": "check-in",
            }[name]
            area = NoteArea(
                getattr(plan, name) or "" if plan is not None else "",
                placeholder=consent_service.PLAN_LABELS[name],
                id=name,
            )
            yield FormRow(label, area, name)
        review = plan.review_on.isoformat() if plan is not None and plan.review_on else ""
        yield FormRow(
            "review on",
            FieldInput(
                review, placeholder=f"YYYY-MM-DD (default: in {domain.SAFETY_PLAN_REVIEW_DAYS} days)", id="review_on"
            ),
            "review_on",
        )

    def collect(self) -> dict:
        review = parse_date(self.value("review_on"), today=self.app.today(), field="review_on", required=False)
        parts = {name: self.value(name) for name in consent_service.PLAN_PARTS}
        if not any(v.strip() for v in parts.values()):
            raise ValidationError("the safety plan is empty: write at least one part", field="threats")
        return dict(review_on=review, **parts)

    def save_record(self, store, draft):
        return consent_service.save_safety_plan(store, self.ref.client_id, **draft)

    def _saved(self, result) -> None:
        self.notify(f"safety plan saved; next review {result.review_on.isoformat()}")
        super()._saved(result)


def after_record(screen, ref: ClientRef | None, result) -> None:
    """After a form saved `result`: an assessment with the safety/retaliation need at urgent level,
    or a client flagged at retaliation risk, offers the safety plan form when the client has none."""
    from vipterm.store.models import Assessment, AssessmentItem, Client

    store = screen.app.store
    if ref is None or store is None or result is None:
        return
    if isinstance(result, Client):
        if domain.RiskFlag.RETALIATION_RISK.value in (result.risk_flags or "").split(","):
            offer_safety_plan(screen, ref, "retaliation risk is flagged")
        return
    if not isinstance(result, Assessment):
        return
    assessment_id = result.id

    def run() -> None:
        from sqlmodel import select

        with store.read() as session:
            items = session.exec(select(AssessmentItem).where(AssessmentItem.assessment_id == assessment_id)).all()
        if consent_service.urgent_safety({i.domain: i.level for i in items}) and consent_service.safety_plan_prompt(
            store, ref.client_id
        ):
            screen.app.call_from_thread(_ask, screen, ref, "an urgent safety / retaliation need is recorded")

    screen.run_worker(run, thread=True, exit_on_error=False, group="safety-offer")


def offer_safety_plan(screen, ref: ClientRef, why: str) -> None:
    """Ask whether to open the safety plan form now (after recording `why`), when the client has
    none. Runs the check in a thread; the question comes back on the app's thread."""
    store = screen.app.store
    if store is None:
        return
    _check(screen, store, ref, why)


def _check(screen, store, ref: ClientRef, why: str) -> None:
    def run() -> None:
        if consent_service.safety_plan_prompt(store, ref.client_id):
            screen.app.call_from_thread(_ask, screen, ref, why)

    screen.run_worker(run, thread=True, exit_on_error=False, group="safety-offer")


def _ask(screen, ref: ClientRef, why: str) -> None:
    from vipterm.tui.widgets import ConfirmModal

    def saved(result) -> None:
        below = screen.app.screen  # the client file, when the plan was offered over it
        if result is not None and hasattr(below, "reload"):
            below.reload()

    def answered(yes: bool | None) -> None:
        if yes:
            screen.app.push_screen(SafetyPlanForm(ref), saved)

    screen.app.push_screen(ConfirmModal(f"{why}: {ref.pseudonym} has no safety plan. Make one now?"), answered)


from textual.message import Message  # noqa: E402


class ConsentsLoaded(Message):
    """The client file's consents and safety plan, read in a thread."""

    def __init__(self, consents: list, plan, generation: int) -> None:
        super().__init__()
        self.consents = consents
        self.plan = plan
        self.generation = generation


def load_consents(store, client_id: str, generation: int) -> ConsentsLoaded:
    return ConsentsLoaded(
        consent_service.list_consents(store, client_id), consent_service.safety_plan(store, client_id), generation
    )


def header_line(consents: list, plan, today) -> str:
    """One line of the client file's header: current consents, and the safety plan's review."""
    current = [r for r in consents if r.current]
    if current:
        what = "; ".join(
            (r.kind_label + (f" {r.provider}" if r.provider else "") + (" (verbal)" if r.method == "verbal" else ""))
            for r in current[:3]
        )
        if len(current) > 3:
            what += f"; +{len(current) - 3}"
    else:
        what = "none current"
    line = f"consents: {what} (k) · "
    if plan is None:
        return line + "safety plan: none (p)"
    review = plan.review_on
    due = " DUE" if review is not None and review <= today else ""
    return line + f"safety plan: review {review.isoformat() if review else '—'}{due} (p)"
