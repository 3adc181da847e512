"""One resolver for the ids a person types: a full id, a unique prefix of it, or a pseudonym.

Tables cut 36-character ids at 80 columns, so every command that takes an id accepts what the
table showed: `resolve_id` finds the one row whose id starts with the text (at least
`MIN_PREFIX` characters), refuses an ambiguous prefix saying how many rows match, and says
plainly when nothing does. `resolve_client` also takes a client's pseudonym (`VIP-1A2B3C`, any
case); `resolve_worker` also takes a worker's name (case and accents ignored).

Messages name the kind of record and the text typed (an id or a staff name), never a client's name.
"""

from __future__ import annotations

from sqlalchemy import text

from vipterm import domain
from vipterm.errors import NotFound, ValidationError
from vipterm.services.database import Store

MIN_PREFIX = 4  # shorter prefixes match nearly everything (UUIDv7 ids share their leading time)

# (table, id column, extra condition) per kind of record a command names.
_TABLES = {
    "client": ("client", "id", "deleted_at IS NULL"),
    "worker": ("worker", "id", "deleted_at IS NULL"),
    "conflict": ("sync_conflict", "id", None),
    "quarantine": ("sync_quarantine", "id", None),
}


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def match_prefix(candidates: list[str], ref: str, what: str) -> str:
    """The one candidate equal to `ref` or starting with it; refusals say why (ambiguous, none)."""
    ref = ref.strip()
    if not ref:
        raise ValidationError(f"give a {what} id", field=what)
    if ref in candidates:
        return ref
    if len(ref) < MIN_PREFIX:
        raise ValidationError(
            f"{ref!r} is too short: type at least {MIN_PREFIX} characters of the {what} id", field=what
        )
    folded = ref.lower()
    matches = sorted({c for c in candidates if str(c).lower().startswith(folded)})
    if len(matches) > 1:
        raise ValidationError(f"{ref!r} matches {len(matches)} {what}s: type more of the id", field=what)
    if not matches:
        raise NotFound(f"no {what} with an id starting {ref!r}")
    return matches[0]


def resolve_id(store: Store, kind: str, ref: str) -> str:
    """A full id of `kind` (client, worker, conflict, quarantine) from a full id or a unique prefix."""
    table, col, where = _TABLES[kind]
    ref = ref.strip()
    if not ref:
        raise ValidationError(f"give a {kind} id", field=kind)
    cond = f" AND {where}" if where else ""
    with store.read() as session:
        exact = session.execute(text(f"SELECT {col} FROM {table} WHERE {col} = :ref{cond}"), {"ref": ref}).all()
        if exact:
            return str(exact[0][0])
        if len(ref) < MIN_PREFIX:
            return match_prefix([], ref, kind)  # says "too short"
        rows = session.execute(
            text(f"SELECT {col} FROM {table} WHERE lower({col}) LIKE :p ESCAPE '\\'{cond} LIMIT 1000"),
            {"p": _like_escape(ref.lower()) + "%"},
        ).all()
    return match_prefix([str(r[0]) for r in rows], ref, kind)


def resolve_client(store: Store, ref: str) -> str:
    """A client id from its id, a unique prefix of it, or its pseudonym (any case)."""
    ref = ref.strip()
    if ref:
        with store.read() as session:
            by_pseudonym = session.execute(
                text("SELECT id FROM client WHERE pseudonym = :p AND deleted_at IS NULL"), {"p": ref.upper()}
            ).all()
        if len(by_pseudonym) == 1:
            return str(by_pseudonym[0][0])
        if len(by_pseudonym) > 1:
            raise ValidationError(
                f"{len(by_pseudonym)} clients have the pseudonym {ref.upper()}: give the id", field="client"
            )
    try:
        return resolve_id(store, "client", ref)
    except NotFound:
        raise NotFound(
            f"no single client matches {ref!r} (give an id, a unique prefix of it, or a pseudonym)"
        ) from None


def resolve_clients(store: Store, refs: list[str]) -> list[str]:
    """Each reference resolved (order kept, repeats dropped); the first bad one is refused."""
    return list(dict.fromkeys(resolve_client(store, ref) for ref in refs))


def resolve_worker(store: Store, ref: str) -> str:
    """A staff row's id from its id, a unique id prefix, or its name (case, accents and extra
    spaces ignored). Two staff rows with the same name are refused: give the id."""
    spec = " ".join(ref.split())
    if not spec:
        raise ValidationError("say which worker: a name or an id", field="worker")
    with store.read() as session:
        rows = session.execute(text("SELECT id, display_name FROM worker WHERE deleted_at IS NULL")).all()
    if any(r[0] == spec for r in rows):
        return spec
    by_name = [r[0] for r in rows if domain.fold(" ".join((r[1] or "").split())) == domain.fold(spec)]
    if len(by_name) > 1:
        raise ValidationError(
            f"{len(by_name)} staff members are named {spec!r}: give the worker's id (`vipterm workers list`)",
            field="worker",
        )
    if by_name:
        return str(by_name[0])
    try:
        return match_prefix([r[0] for r in rows], spec, "worker")
    except NotFound:
        raise NotFound(f"no worker named {spec!r} (`vipterm workers list` shows them)") from None
    except ValidationError as exc:
        if len(spec) < MIN_PREFIX:
            raise NotFound(f"no worker named {spec!r} (`vipterm workers list` shows them)") from None
        raise exc


def resolve_device(store: Store, ref: str) -> str:
    """A device id on the roster (revoked ones too) from its id or a unique prefix of it."""
    from vipterm.services.sync import roster_entries

    return match_prefix([e.device_id for e in roster_entries(store)], ref, "device")
