"""Drafts a crash left behind, offered back when the app starts: `offer_drafts(app)` and the
`DraftOfferModal` question (restore into the form / discard / later).

Every form keeps what is typed in it as a draft inside the encrypted database
(`vipterm.services.drafts`), written a second after typing pauses, and deletes it when the form is
saved or deliberately closed. A draft still there at the first unlock of a session was left by a
killed terminal or a dead battery: each one is offered in turn. "Later" keeps it for the next start.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from vipterm.tui.base import VipModal
from vipterm.tui.messages import ClientRef

# The forms a draft can belong to: kind -> title (the kinds of `VipApp.open_form`, and intake).
FORM_TITLES = {
    "contact": "Log contact",
    "notification": "Custom notification",
    "outcome": "Outcome",
    "follow_up": "Follow-up",
    "assessment": "Needs assessment",
    "referral": "Referral",
    "referral_status": "Referral status",
    "client": "New client",
}
PREVIEW_LINES = 4


@dataclass(frozen=True)
class DraftOffer:
    draft: object  # vipterm.services.drafts.FormDraftView
    ref: ClientRef | None  # the client; None for a new client's intake
    referral: object | None  # the referral of a status change (caseload.ReferralView)
    gone: bool  # the client or referral is no longer in this database: it can only be discarded
    typed_at: str  # when it was last typed, program-local


def offer_drafts(app) -> None:
    """Look for drafts (in a thread) and offer each one; nothing shows when there are none."""
    store = app.store
    if store is None:
        return
    app.run_worker(partial(_load_offers, app, store), thread=True, group="drafts", name="drafts", exit_on_error=False)


def _load_offers(app, store) -> None:
    from vipterm.errors import NotFound
    from vipterm.services import caseload, drafts

    offers = []
    for draft in drafts.list_drafts(store):
        if draft.form not in FORM_TITLES:
            continue  # written by a newer vipterm: left as it is
        ref = referral = None
        gone = False
        if draft.client_id:
            try:
                cf = caseload.client_file(store, draft.client_id)
            except NotFound:
                gone = True
            else:
                ref = ClientRef(cf.client.id, cf.client.pseudonym, cf.name, cf.client.area_command)
                if draft.form == "referral_status":
                    referral_id = draft.key.partition(":")[2]
                    referral = next((r for r in cf.referrals if r.id == referral_id), None)
                    gone = referral is None
        elif draft.form != "client":
            gone = True
        typed_at = store.clock.to_local(draft.updated_at).strftime("%Y-%m-%d %H:%M")
        offers.append(DraftOffer(draft, ref, referral, gone, typed_at))
    if offers:
        app.call_from_thread(_offer_next, app, store, offers)


def _offer_next(app, store, offers: list[DraftOffer]) -> None:
    if not offers or store is not app.store:  # locked meanwhile: offered at the next start
        return
    offer, rest = offers[0], offers[1:]
    app.push_screen(DraftOfferModal(offer, len(rest)), partial(_answered, app, store, offer, rest))


def _answered(app, store, offer: DraftOffer, rest: list[DraftOffer], answer: str | None) -> None:
    if store is not app.store:
        return
    if answer == "restore" and not offer.gone:
        _restore(app, offer, lambda: _offer_next(app, store, rest))
        return
    if answer == "discard":
        app.run_worker(
            partial(_discard, store, offer.draft.key),
            thread=True,
            group="drafts",
            name="discard draft",
            exit_on_error=False,
        )
        app.notify("draft discarded", timeout=3)
    _offer_next(app, store, rest)


def _discard(store, key: str) -> None:
    from vipterm.services import drafts

    drafts.delete_draft(store, key)


def _restore(app, offer: DraftOffer, then) -> None:
    """Open the draft's form with what was typed; the next draft is offered once it closes."""
    fields = offer.draft.fields
    if offer.draft.form == "client":
        from vipterm.tui.forms import ClientForm

        def created(client) -> None:
            if client is not None:
                app.open_client(client.id)
            then()

        form = ClientForm()
        form.pending_draft = fields
        app.push_screen(form, created)
        return

    client_id = offer.ref.client_id

    def closed(result) -> None:
        if result is not None:
            for screen in app.screen_stack:  # the caseload row of this client may have changed
                refresh = getattr(screen, "refresh_clients", None)
                if refresh is not None:
                    refresh([client_id])
        then()

    extra = {"referral": offer.referral} if offer.draft.form == "referral_status" else {}
    app.open_form(offer.draft.form, offer.ref, closed, draft=fields, **extra)


class DraftOfferModal(VipModal[str]):
    """A draft that was not saved: `r` restores it into its form, `d` discards it (asks first),
    `escape` decides later (it is offered again at the next start)."""

    CLOSE_ON_LOCK = True  # it shows a name and a note
    DEFAULT_CSS = """
    DraftOfferModal { align: center middle; }
    DraftOfferModal > Vertical { width: 72; max-width: 100%; height: auto; border: thick $warning;
                                 background: $surface; padding: 0 1; }
    DraftOfferModal #draft-title { text-style: bold; color: $text-warning; }
    DraftOfferModal #draft-preview { color: $text; background: $panel; padding: 0 1; margin: 1 0; height: auto; }
    DraftOfferModal #draft-buttons { height: auto; align: center middle; }
    DraftOfferModal Button { margin: 0 1; min-width: 14; }
    """
    BINDINGS = [
        Binding("r", "answer('restore')", "restore", id="draft_restore"),
        Binding("d", "discard", "discard", id="draft_discard"),
        Binding("escape", "answer('later')", "later", id="draft_later"),
        Binding("left,right", "app.focus_next", show=False),
    ]

    def __init__(self, offer: DraftOffer, more: int = 0) -> None:
        super().__init__()
        self.offer = offer
        self.more = more

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="draft-title", markup=False)
            yield Static("", id="draft-what", markup=False)
            yield Static("", id="draft-preview", markup=False)
            with Horizontal(id="draft-buttons"):
                if not self.offer.gone:
                    yield Button("Restore (r)", id="draft-restore", variant="primary")
                yield Button("Discard (d)", id="draft-discard")
                yield Button("Later (esc)", id="draft-later")

    def on_mount(self) -> None:
        self.refresh_names()
        self.query_one("#draft-restore" if not self.offer.gone else "#draft-later", Button).focus()

    def refresh_names(self) -> None:
        offer, app = self.offer, self.app
        more = f" · {self.more} more after this one" if self.more else ""
        self.query_one("#draft-title", Static).update(f"Unsaved draft, typed {offer.typed_at}{more}")
        title = FORM_TITLES.get(offer.draft.form, offer.draft.form)
        if offer.ref is not None:
            title += f" · {offer.ref.pseudonym} {app.ref_name(offer.ref)}"
        if offer.gone:
            title += "\nIts client or referral is no longer in this database: it can only be discarded."
        else:
            title += "\nThe app closed before it was saved (a crash, a closed terminal, a dead battery)."
        self.query_one("#draft-what", Static).update(title)
        self.query_one("#draft-preview", Static).update(self._preview())

    def _preview(self) -> str:
        fields = self.offer.draft.fields
        notes = [fields[k] for k in ("note", "reason", "feedback") if isinstance(fields.get(k), str) and fields[k]]
        if not notes:
            return "(no note; the other fields are kept)"
        text = "\n\n".join(notes)
        lines = text.split("\n")
        shown = "\n".join(lines[:PREVIEW_LINES]) + (
            f"\n… {len(lines) - PREVIEW_LINES} more lines" if len(lines) > PREVIEW_LINES else ""
        )
        shown_note = getattr(self.app, "shown_note", None)
        return shown_note(shown) if shown_note is not None else shown

    def action_answer(self, answer: str) -> None:
        if answer == "restore" and self.offer.gone:
            return
        self.dismiss(answer)

    def action_discard(self) -> None:
        from vipterm.tui.widgets import ConfirmModal

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss("discard")

        self.app.push_screen(ConfirmModal("Discard this draft? What was typed in it will be lost."), answered)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "draft-discard":
            self.action_discard()
        else:
            self.action_answer("restore" if event.button.id == "draft-restore" else "later")
