"""Form drafts: what a worker has typed into a form and not yet saved, kept inside the encrypted
database so that a killed terminal or a dead battery loses nothing.

Provides `save_draft`, `delete_draft`, `list_drafts`, `discard_drafts_of_client` and `FormDraftView`.

A draft lives in `form_draft`, a local table: never synced, never in the change log, never in a
bundle; the whole file is encrypted, so a draft is never in a plain file. One draft per form and
record (`key`, e.g. ``contact:<client id>``); the form writes it as it is typed and deletes it when
it is saved or deliberately discarded. Locking the app keeps drafts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from vipterm.errors import ValidationError
from vipterm.services.database import Store
from vipterm.store.models import FormDraft

# A draft is typed text, not a bulk store: a form with several 4,000-character notes fits easily.
MAX_DRAFT_BYTES = 64_000


@dataclass(frozen=True)
class FormDraftView:
    key: str
    form: str
    client_id: str | None
    fields: dict[str, Any]
    updated_at: datetime  # naive UTC, as stored


def save_draft(store: Store, key: str, form: str, client_id: str | None, fields: dict[str, Any]) -> None:
    """Write (or replace) the draft under `key`."""
    text = json.dumps(fields, ensure_ascii=False, sort_keys=True)
    if len(text.encode("utf-8")) > MAX_DRAFT_BYTES:
        raise ValidationError("this draft is too large to keep")
    now = store.clock.utcnow()
    with store.write(capture=False) as session:  # local bookkeeping: not a change to sync
        draft = session.get(FormDraft, key)
        if draft is None:
            session.add(
                FormDraft(
                    key=key, form=form, client_id=client_id, worker_id=store.worker_id, fields=text, updated_at=now
                )
            )
        else:
            draft.form, draft.client_id, draft.fields, draft.updated_at = form, client_id, text, now
            draft.worker_id = store.worker_id


def delete_draft(store: Store, key: str) -> None:
    with store.write(capture=False) as session:
        delete_draft_in(session, key)


def delete_draft_in(session: Session, key: str) -> None:
    """Delete the draft under `key` in the caller's transaction: a form's save deletes its draft
    in the save's own transaction (one commit; a failed save rolls the deletion back with it)."""
    session.execute(text("DELETE FROM form_draft WHERE key = :key"), {"key": key})


def list_drafts(store: Store) -> list[FormDraftView]:
    """This worker's drafts, newest first. A draft that cannot be read is dropped, not shown."""
    with store.read() as session:
        rows = session.exec(
            select(FormDraft)
            .where(FormDraft.worker_id == store.worker_id)
            .order_by(col(FormDraft.updated_at).desc(), FormDraft.key)
        ).all()
    drafts = []
    for row in rows:
        try:
            fields = json.loads(row.fields)
        except ValueError:
            continue
        if isinstance(fields, dict):
            drafts.append(FormDraftView(row.key, row.form, row.client_id, fields, row.updated_at))
    return drafts


def discard_drafts_of_client(store: Store, client_id: str) -> int:
    """Delete every draft about a client (the client is gone from this database)."""
    with store.write(capture=False) as session:
        rows = session.exec(select(FormDraft).where(FormDraft.client_id == client_id)).all()
        for row in rows:
            session.delete(row)
    return len(rows)
