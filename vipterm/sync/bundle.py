"""The vipterm sync bundle file: build, write atomically, and read with checks.

Provides:

* :func:`build_bundle` – the bundle as bytes, in memory.
* :func:`write_bundle` – build, then write ``<bundle_id>.vipb`` atomically
  (temp file, fsync, rename, fsync of the directory).
* :class:`PackedChanges` – change records encoded as they stream in (for a
  bundle of many changes: the records are never all held as Python objects).
* :func:`read_bundle` – parse, authenticate, decrypt, decompress and decode
  a bundle entirely in memory, refusing anything wrong with a
  :class:`~vipterm.sync.errors.BundleError` subclass.  Three steps, each
  usable alone: :func:`verify_signer` (structure, header, who signed it),
  :func:`verify_content` (the hashes the signed header binds) and
  :func:`decrypt_payload` (recipient, limits, age, zstd, msgpack).
* :func:`verify_bundle` – the first two steps (no decryption): cheap, used to
  recognise a genuine copy of a bundle already imported.
* :func:`peek_header` – the unverified header, for listing an inbox.
* :func:`peek_roster_blob` – the unverified attached roster, to open with
  ``roster.open_roster`` before reading a bundle signed by a newly enrolled
  coordinator device.
* :func:`bundle_id_from_path`, :func:`check_schema_version`,
  :func:`trusted_comment_for`, :func:`pack_members`, :class:`Limits`,
  :class:`OpenedBundle`.

A bundle is one plain ustar file holding ``header.json``, ``payload.age``
(msgpack → zstd → age), ``payload.age.minisig`` (minisign signature whose
trusted comment binds the SHA-256 of ``header.json``) and optionally
``roster.bin``.  Stock ``tar``, ``minisign``, ``age`` and ``zstd`` can check
and open it; ``docs/bundle-format.md`` is the specification.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import msgpack
import pyrage
import uuid6
import zstandard

from vipterm.store.files import atomic_file

from .errors import (
    BadFormat,
    BadSignature,
    BundleError,
    NewerFormat,
    NewerSchema,
    NotABundle,
    NotForUs,
    RevokedSigner,
    SignatureInvalid,
    SignerMismatch,
    Tampered,
    TooLarge,
    Truncated,
    UnknownSigner,
    WrongProgram,
)
from .keys import DeviceKeys, key_id_hex, signature_key_id, verify
from .roster import KeyStatus

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "SUFFIX",
    "KINDS",
    "HEADER_NAME",
    "PAYLOAD_NAME",
    "SIGNATURE_NAME",
    "ROSTER_NAME",
    "Limits",
    "OpenedBundle",
    "PackedChanges",
    "KeyLookup",
    "build_bundle",
    "write_bundle",
    "read_bundle",
    "verify_bundle",
    "verify_signer",
    "verify_content",
    "decrypt_payload",
    "SignedBundle",
    "VerifiedBundle",
    "peek_header",
    "peek_roster_blob",
    "bundle_id_from_path",
    "check_schema_version",
    "trusted_comment_for",
    "pack_members",
]

FORMAT = "vipterm-bundle"
FORMAT_VERSION = 1
SUFFIX = ".vipb"
KINDS: tuple[str, ...] = ("worker", "return")

HEADER_NAME = "header.json"
PAYLOAD_NAME = "payload.age"
SIGNATURE_NAME = "payload.age.minisig"
ROSTER_NAME = "roster.bin"
_REQUIRED_MEMBERS = (HEADER_NAME, PAYLOAD_NAME, SIGNATURE_NAME)
_ALL_MEMBERS = _REQUIRED_MEMBERS + (ROSTER_NAME,)

# Fields the caller supplies to build_bundle (the rest are computed).
_CALLER_REQUIRED = ("program_id", "schema_version", "kind", "source_device", "created_hlc")
_CALLER_OPTIONAL = ("seq_first", "seq_last", "extra", "bundle_id")

# zstd level 3 (the zstd default) uses at most a 2 MiB window even for huge
# inputs, far below the reader's window cap.
_ZSTD_LEVEL = 3

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_MAX_JSON_INT = 2**63 - 1

#: ``key_lookup(key_id) -> KeyStatus``; called with the 8-byte minisign key id
#: found in the signature.  ``Roster.key_status`` fits.
KeyLookup = Callable[[bytes], KeyStatus]


@dataclass(frozen=True)
class Limits:
    """Hard caps applied while reading (and, so we never write what we would
    refuse, while writing).  All sizes in bytes."""

    max_bundle_bytes: int = 1 << 30  # the whole .vipb file
    max_header_bytes: int = 64 << 10
    max_signature_bytes: int = 16 << 10
    max_roster_bytes: int = 16 << 20
    max_plaintext_bytes: int = 512 << 20  # decompressed msgpack
    max_changes: int = 1_000_000  # len(payload["changes"])
    max_container_len: int = 1_000_000  # any other msgpack array / map
    max_zstd_window_bytes: int = 1 << 23  # zstd decoder memory cap
    # Writing only: where an export starts another bundle.  Far below the reading caps, so that
    # neither the writer nor the importer holds more than a few tens of MB of one bundle.
    bundle_changes: int = 200_000  # change records per bundle
    bundle_plaintext_bytes: int = 32 << 20  # msgpack plaintext per bundle


@dataclass(frozen=True)
class OpenedBundle:
    """A verified, decrypted bundle.

    ``header`` is authenticated (bound by the signature's trusted comment);
    ``signer_key`` is the 42-byte signing key that verified it; ``signer`` the
    roster's KeyStatus for it; ``raw_sha256`` the hex SHA-256 of the file
    bytes as read (differs between copies whose unsigned tar padding differs:
    de-duplicate by ``header["bundle_id"]``, not by this); ``roster_blob`` the
    optional ``roster.bin`` (hash-bound via the header, still to be opened with
    ``roster.open_roster``).
    """

    header: dict[str, Any]
    payload: dict[str, Any]
    signer_key: bytes
    raw_sha256: str
    signer: KeyStatus
    roster_blob: bytes | None = None


# --------------------------------------------------------------------------
# helpers


def trusted_comment_for(bundle_id: str, header_bytes: bytes) -> str:
    """The minisign trusted comment that binds ``header.json`` to the payload."""
    return f"vipterm-bundle v1 {bundle_id} header-sha256:{hashlib.sha256(header_bytes).hexdigest()}"


def bundle_id_from_path(path: str | os.PathLike[str]) -> str | None:
    """The bundle id a file name claims (``<uuid>.vipb``), or None.

    The name is not authenticated (and copies may be renamed, e.g. "x (1).vipb"):
    use it for listing only; the signed id is ``header["bundle_id"]``.
    """
    name = Path(path).name
    if not name.endswith(SUFFIX):
        return None
    try:
        return str(uuid.UUID(name[: -len(SUFFIX)]))
    except ValueError:
        return None


def check_schema_version(header: dict[str, Any], supported: int) -> int:
    """Return ``header["schema_version"]``; raise NewerSchema if above ``supported``."""
    version = header.get("schema_version")
    if type(version) is not int:
        raise BadFormat("bundle header is invalid: schema_version")
    if version > supported:
        raise NewerSchema(
            f"bundle was written by a newer vipterm (database schema {version}, "
            f"this vipterm has {supported}); update vipterm first"
        )
    return version


def pack_members(members: list[tuple[str, bytes]], *, mtime: int | None = None) -> bytes:
    """A plain ustar archive of ``(name, data)`` members, in the given order.

    Owner and group are blanked and the mode is 0600 so that extraction by
    hand neither leaks the writer's user name nor leaves world-readable files.
    """
    buf = io.BytesIO()
    _write_members(buf, members, mtime=mtime)
    return buf.getvalue()


def _write_members(fileobj: Any, members: list[tuple[str, bytes]], *, mtime: int | None = None) -> None:
    """Write the ustar archive of :func:`pack_members` straight into ``fileobj`` (no copy)."""
    now = int(time.time()) if mtime is None else mtime
    with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            info.mtime = now
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tf.addfile(info, io.BytesIO(data))


def _is_int(value: Any) -> TypeGuard[int]:
    return type(value) is int


def _validate_header(header: Any) -> dict[str, Any]:
    """Format/version, then every field; raises NotABundle/NewerFormat/BadFormat."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise NotABundle("not a vipterm bundle")
    version = header.get("format_version")
    if not _is_int(version) or version < 1:
        raise BadFormat("bundle header is invalid: format_version")
    if version > FORMAT_VERSION:
        raise NewerFormat(f"bundle format version {version} is newer than this vipterm supports; update vipterm")

    def bad(name: str) -> BadFormat:
        return BadFormat(f"bundle header is invalid: {name}")

    expected = {
        "format", "format_version", "bundle_id", "program_id", "schema_version", "kind",
        "source_device", "created_hlc", "seq_first", "seq_last", "change_count",
        "plaintext_size", "plaintext_sha256", "payload_sha256", "roster_sha256",
        "recipients", "extra",
    }  # fmt: skip
    missing = sorted(expected - header.keys())
    if missing:
        raise bad(f"missing {missing[0]}")
    if header.keys() - expected:
        raise bad("unexpected field")

    bid = header["bundle_id"]
    try:
        if not isinstance(bid, str) or str(uuid.UUID(bid)) != bid:
            raise ValueError
    except ValueError:
        raise bad("bundle_id") from None
    for name in ("program_id", "source_device"):
        if not isinstance(header[name], str) or not _ID_RE.fullmatch(header[name]):
            raise bad(name)
    if header["kind"] not in KINDS:
        raise bad("kind")
    for name in ("schema_version", "created_hlc", "change_count", "plaintext_size"):
        if not _is_int(header[name]) or not 0 <= header[name] <= _MAX_JSON_INT:
            raise bad(name)
    first, last = header["seq_first"], header["seq_last"]
    if (first is None) != (last is None):
        raise bad("seq_first/seq_last")
    if first is not None:
        if not (_is_int(first) and _is_int(last) and 0 <= first <= last <= _MAX_JSON_INT):
            raise bad("seq_first/seq_last")
    for name in ("plaintext_sha256", "payload_sha256"):
        if not isinstance(header[name], str) or not _HEX64_RE.fullmatch(header[name]):
            raise bad(name)
    rsha = header["roster_sha256"]
    if rsha is not None and (not isinstance(rsha, str) or not _HEX64_RE.fullmatch(rsha)):
        raise bad("roster_sha256")
    recips = header["recipients"]
    if (
        not isinstance(recips, list)
        or not recips
        or len(recips) > 64
        or not all(isinstance(r, str) and r.startswith("age1") and len(r) < 200 for r in recips)
        or len(set(recips)) != len(recips)
    ):
        raise bad("recipients")
    if not isinstance(header["extra"], dict):
        raise bad("extra")
    return header


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # "1e999" parses as infinity
        raise ValueError("non-finite number")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        # Two values for one key would let two readers see different headers.
        raise ValueError("duplicate key")
    return d


def _parse_header_bytes(data: bytes) -> dict[str, Any]:
    try:
        header = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError, JSONDecodeError, int digits
        raise BadFormat("bundle header is damaged") from err
    return _validate_header(header)


def _header_to_bytes(header: dict[str, Any]) -> bytes:
    # Indented ASCII JSON: readable with `less` when checking by hand.  The
    # exact bytes are what the signature binds, so the reader never
    # re-serialises, it hashes the bytes as found.
    return (json.dumps(header, indent=2, ensure_ascii=True, allow_nan=False) + "\n").encode("ascii")


def _unpack_options(limits: Limits) -> dict[str, Any]:
    """msgpack decoding limits: explicit caps, no ext types, str map keys."""
    container = max(limits.max_container_len, limits.max_changes + 1)
    return dict(
        raw=False,
        use_list=True,
        strict_map_key=True,  # map keys are str/bytes only
        max_str_len=limits.max_plaintext_bytes,
        max_bin_len=limits.max_plaintext_bytes,
        max_array_len=container,
        max_map_len=container,
        max_ext_len=0,  # no ext types (no timestamps, no custom objects)
    )


def _unpack_payload(plaintext: bytes, limits: Limits) -> dict[str, Any]:
    try:
        payload = msgpack.unpackb(plaintext, **_unpack_options(limits))
    except Exception as err:  # msgpack raises ValueError subclasses, TypeError, StackError...
        raise BadFormat("bundle content is not valid vipterm data") from err
    if not isinstance(payload, dict) or not all(isinstance(k, str) for k in payload):
        raise BadFormat("bundle content is not valid vipterm data")
    changes = payload.get("changes", [])
    if not isinstance(changes, list):
        raise BadFormat("bundle content is not valid vipterm data (changes)")
    if len(changes) > limits.max_changes:
        raise TooLarge(f"bundle holds {len(changes)} changes, more than the limit of {limits.max_changes}")
    return payload


# --------------------------------------------------------------------------
# writing


class PackedChanges:
    """The ``changes`` list of one bundle, msgpack-encoded record by record as it streams in.

    Only the encoded bytes are kept (about 130 bytes a change), never the records as Python
    objects, so a bundle of 200,000 changes costs ~26 MB instead of the ~1 GB of a list of lists.
    Every sealed MiB is decoded once with the reader's rules and dropped, so the writer still
    never writes what a reader would refuse.  ``count`` and ``size`` say how full it is.
    """

    _SEAL_BYTES = 1 << 20

    def __init__(self, limits: Limits = Limits()) -> None:
        self._limits = limits
        self._packer = msgpack.Packer(use_bin_type=True, datetime=False)
        self._chunks: list[bytes] = []
        self._open = bytearray()
        self._open_count = 0
        self.count = 0
        self.size = 0

    def add(self, record: Any) -> None:
        """Append one change record (a sequence of plain values: written as a msgpack array)."""
        try:
            data = self._packer.pack(tuple(record))
        except (TypeError, ValueError, OverflowError) as err:
            raise ValueError(f"a change record cannot be sent: {err}") from err
        self._open += data
        self._open_count += 1
        self.count += 1
        self.size += len(data)
        if len(self._open) >= self._SEAL_BYTES:
            self._seal()

    def full(self) -> bool:
        """Whether this bundle should take no more changes (the writer's per-bundle budget)."""
        limits = self._limits
        return self.count >= min(limits.bundle_changes, limits.max_changes) or self.size >= min(
            limits.bundle_plaintext_bytes, limits.max_plaintext_bytes
        )

    def _seal(self) -> None:
        if not self._open:
            return
        chunk = bytes(self._open)
        unpacker = msgpack.Unpacker(**_unpack_options(self._limits), max_buffer_size=len(chunk))
        unpacker.feed(chunk)
        try:
            decoded = sum(1 for _ in unpacker)
        except Exception as err:  # msgpack's own errors: what a reader would refuse
            raise ValueError(f"a change record cannot be sent: {err}") from err
        if decoded != self._open_count:
            raise ValueError("a change record cannot be sent")
        self._chunks.append(chunk)
        self._open.clear()
        self._open_count = 0

    def chunks(self) -> list[bytes]:
        self._seal()
        return self._chunks


def _plaintext(payload: dict[str, Any], changes: PackedChanges | None, limits: Limits) -> tuple[list[bytes], int]:
    """The msgpack plaintext as pieces (never joined), and the change count.

    With ``changes``, the plaintext is exactly ``msgpack.packb({"changes": [...], **payload})``:
    the same bytes a payload holding the list itself would give.
    """
    if changes is None:
        plaintext = msgpack.packb(payload, use_bin_type=True, datetime=False)
        if len(plaintext) > limits.max_plaintext_bytes:
            raise ValueError("payload is larger than Limits.max_plaintext_bytes; split it into several bundles")
        # Decode it exactly as a reader will, so we never write a bundle that we
        # ourselves would refuse (non-str map keys, over-long lists, ...).
        try:
            _unpack_payload(plaintext, limits)
        except BundleError as err:
            raise ValueError(f"payload cannot be sent: {err}") from err
        listed = payload.get("changes")
        return [plaintext], 0 if listed is None else len(listed)
    if "changes" in payload:
        raise ValueError("the changes go in PackedChanges or in the payload, not both")
    if changes.count > limits.max_changes:
        raise ValueError("payload has more changes than Limits.max_changes; split it into several bundles")
    rest = msgpack.packb(payload, use_bin_type=True, datetime=False)
    try:
        _unpack_payload(rest, limits)
    except BundleError as err:
        raise ValueError(f"payload cannot be sent: {err}") from err
    packer = msgpack.Packer(use_bin_type=True, datetime=False)
    head = packer.pack_map_header(len(payload) + 1) + packer.pack("changes") + packer.pack_array_header(changes.count)
    # `rest` is a map header followed by the entries: keep the entries only.
    entries = rest[len(packer.pack_map_header(len(payload))) :]
    pieces = [head, *changes.chunks(), entries]
    if sum(len(p) for p in pieces) > limits.max_plaintext_bytes:
        raise ValueError("payload is larger than Limits.max_plaintext_bytes; split it into several bundles")
    return pieces, changes.count


def _seal_bundle(
    *,
    header_fields: dict[str, Any],
    payload: dict[str, Any],
    signer: DeviceKeys,
    recipients: list[str],
    roster_blob: bytes | None,
    limits: Limits,
    changes: PackedChanges | None,
) -> tuple[str, list[tuple[str, bytes]]]:
    """Encode, compress, encrypt and sign: the bundle id and its tar members."""
    unknown = set(header_fields) - set(_CALLER_REQUIRED) - set(_CALLER_OPTIONAL)
    if unknown:
        raise ValueError(f"unknown or computed header fields: {sorted(unknown)}")
    missing = [k for k in _CALLER_REQUIRED if k not in header_fields]
    if missing:
        raise ValueError(f"missing header fields: {missing}")
    if not isinstance(payload, dict):
        raise TypeError("payload must be a dict")
    recipients = list(dict.fromkeys(recipients))  # de-duplicate, keep order
    if not recipients:
        raise ValueError("at least one recipient is required")
    recipient_objs = []
    for r in recipients:
        try:
            recipient_objs.append(pyrage.x25519.Recipient.from_str(r))
        except Exception:
            raise ValueError("recipient is not a valid age X25519 recipient") from None
    if roster_blob is not None and not isinstance(roster_blob, bytes):
        raise TypeError("roster_blob must be bytes")

    pieces, change_count = _plaintext(payload, changes, limits)
    plaintext_size = sum(len(p) for p in pieces)
    digest = hashlib.sha256()
    compressed_buf = io.BytesIO()
    # One frame with its content size and checksum, fed piece by piece: the plaintext is never
    # joined into one more copy.
    cctx = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, write_content_size=True, write_checksum=True)
    with cctx.stream_writer(compressed_buf, size=plaintext_size, closefd=False) as writer:
        for piece in pieces:
            digest.update(piece)
            writer.write(piece)
    del pieces
    compressed = compressed_buf.getvalue()
    del compressed_buf
    payload_age = pyrage.encrypt(compressed, recipient_objs)
    del compressed

    bundle_id = header_fields.get("bundle_id") or str(uuid6.uuid7())
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "bundle_id": bundle_id,
        "program_id": header_fields["program_id"],
        "schema_version": header_fields["schema_version"],
        "kind": header_fields["kind"],
        "source_device": header_fields["source_device"],
        "created_hlc": header_fields["created_hlc"],
        "seq_first": header_fields.get("seq_first"),
        "seq_last": header_fields.get("seq_last"),
        "change_count": change_count,
        "plaintext_size": plaintext_size,
        "plaintext_sha256": digest.hexdigest(),
        "payload_sha256": hashlib.sha256(payload_age).hexdigest(),
        "roster_sha256": None if roster_blob is None else hashlib.sha256(roster_blob).hexdigest(),
        "recipients": list(recipients),
        "extra": header_fields.get("extra") or {},
    }
    try:
        header_bytes = _header_to_bytes(header)
        _validate_header(json.loads(header_bytes))
    except (BundleError, TypeError, ValueError) as err:
        raise ValueError(f"invalid header fields: {err}") from err
    if len(header_bytes) > limits.max_header_bytes:
        raise ValueError("header (extra) is larger than Limits.max_header_bytes")

    signature = signer.sign(payload_age, trusted_comment_for(bundle_id, header_bytes))
    members = [(HEADER_NAME, header_bytes), (PAYLOAD_NAME, payload_age), (SIGNATURE_NAME, signature)]
    if roster_blob is not None:
        members.append((ROSTER_NAME, roster_blob))
    return bundle_id, members


def build_bundle(
    *,
    header_fields: dict[str, Any],
    payload: dict[str, Any],
    signer: DeviceKeys,
    recipients: list[str],
    roster_blob: bytes | None = None,
    limits: Limits = Limits(),
    changes: PackedChanges | None = None,
) -> tuple[str, bytes]:
    """Build a bundle in memory; return ``(bundle_id, tar bytes)``.

    ``header_fields`` must hold program_id, schema_version, kind,
    source_device, created_hlc; may hold seq_first, seq_last, extra (a JSON
    dict, authenticated but NOT encrypted: no personal data there) and
    bundle_id (default: a new UUIDv7).  ``payload`` is a dict with str keys
    whose optional ``"changes"`` list sets ``change_count``; or the changes
    come already encoded in ``changes`` (then the payload has no
    ``"changes"`` key).  Raises ValueError/TypeError on bad input or if the
    result would exceed ``limits``.
    """
    bundle_id, members = _seal_bundle(
        header_fields=header_fields,
        payload=payload,
        signer=signer,
        recipients=recipients,
        roster_blob=roster_blob,
        limits=limits,
        changes=changes,
    )
    data = pack_members(members)
    if len(data) > limits.max_bundle_bytes:
        raise ValueError("bundle is larger than Limits.max_bundle_bytes; split it")
    return bundle_id, data


def write_bundle(
    out_dir: Path,
    *,
    header_fields: dict[str, Any],
    payload: dict[str, Any],
    signer: DeviceKeys,
    recipients: list[str],
    roster_blob: bytes | None = None,
    limits: Limits = Limits(),
    changes: PackedChanges | None = None,
) -> Path:
    """Build a bundle and write ``out_dir/<bundle_id>.vipb`` atomically.

    Temp file (mode 0600) in ``out_dir``, fsync, ``os.replace``, fsync of the
    directory: a crash leaves either no bundle or the whole bundle (and
    possibly a stray ``.tmp`` file, never a half bundle under the final name).
    The tar is written straight into the temp file (no copy in memory).
    """
    out_dir = Path(out_dir)
    bundle_id, members = _seal_bundle(
        header_fields=header_fields,
        payload=payload,
        signer=signer,
        recipients=recipients,
        roster_blob=roster_blob,
        limits=limits,
        changes=changes,
    )
    final = out_dir / f"{bundle_id}{SUFFIX}"
    with atomic_file(final) as f:
        _write_members(f, members)
        f.flush()
        if f.tell() > limits.max_bundle_bytes:
            raise ValueError("bundle is larger than Limits.max_bundle_bytes; split it")
    return final


# --------------------------------------------------------------------------
# reading


def _read_source(source: Path | str | bytes | bytearray | memoryview, limits: Limits) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        # OSError (missing file, permissions) propagates: it is not a
        # property of the bundle.
        with open(source, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limits.max_bundle_bytes:
                raise TooLarge(f"bundle file is larger than the limit of {limits.max_bundle_bytes} bytes")
            raw = f.read(limits.max_bundle_bytes + 1)
    else:
        raise TypeError("source must be a path or bytes")
    if len(raw) > limits.max_bundle_bytes:
        raise TooLarge(f"bundle file is larger than the limit of {limits.max_bundle_bytes} bytes")
    return raw


def _member_cap(name: str, limits: Limits) -> int:
    return {
        HEADER_NAME: limits.max_header_bytes,
        SIGNATURE_NAME: limits.max_signature_bytes,
        ROSTER_NAME: limits.max_roster_bytes,
    }.get(name, limits.max_bundle_bytes)


def _iter_members(fileobj: Any, limits: Limits, stop_after: str | None = None) -> dict[str, bytes]:
    """Read the bundle members from a tar stream; refuse anything ambiguous."""
    found: dict[str, bytes] = {}
    started = False  # a first tar header was read: a failure after it means the copy ends early
    try:
        with tarfile.open(fileobj=fileobj, mode="r:") as tf:
            started = True
            count = 0
            for member in tf:
                count += 1
                if count > len(_ALL_MEMBERS):
                    raise BadFormat("bundle contains unexpected files")
                if member.name not in _ALL_MEMBERS or not member.isreg():
                    raise BadFormat("bundle contains unexpected files")
                if member.name in found:
                    # tar -xf would keep the last copy, we might read the
                    # first: refuse rather than be ambiguous.
                    raise BadFormat("bundle contains a file twice")
                if member.size > _member_cap(member.name, limits):
                    raise TooLarge(f"bundle member {member.name} is larger than its limit")
                extracted = tf.extractfile(member)
                if extracted is None:
                    raise BadFormat("bundle contains unexpected files")
                data = extracted.read()
                if len(data) != member.size:
                    raise Truncated("the bundle file is truncated (an incomplete copy?)")
                found[member.name] = data
                if member.name == stop_after:
                    break
    except BundleError:
        raise
    except Exception as err:  # tarfile.ReadError, EOFError, ValueError, UnicodeError...
        if started:
            # A valid first tar header, then the file ends (or breaks) mid-way: an incomplete copy.
            raise Truncated("the bundle file is truncated (an incomplete copy?)") from err
        raise NotABundle("not a vipterm bundle (not a readable tar file)") from err
    return found


def _require_members(found: dict[str, bytes]) -> None:
    if HEADER_NAME not in found:
        raise NotABundle("not a vipterm bundle (no header)")
    if any(name not in found for name in _REQUIRED_MEMBERS):
        raise NotABundle("not a vipterm bundle: files are missing (truncated or incomplete copy?)")


def peek_header(source: Path | str | bytes, limits: Limits = Limits()) -> dict[str, Any]:
    """``header.json`` of a bundle, NOT verified: for listing an inbox only.

    Reads only up to the header member (header.json comes first in bundles we
    write).  Raises the same format errors as :func:`read_bundle`'s first
    steps (NotABundle, NewerFormat, BadFormat, TooLarge).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        found = _iter_members(io.BytesIO(bytes(source)), limits, stop_after=HEADER_NAME)
    else:
        with open(source, "rb") as f:
            found = _iter_members(f, limits, stop_after=HEADER_NAME)
    if HEADER_NAME not in found:
        raise NotABundle("not a vipterm bundle (no header)")
    return _parse_header_bytes(found[HEADER_NAME])


def peek_roster_blob(source: Path | str | bytes, limits: Limits = Limits()) -> bytes | None:
    """The attached ``roster.bin``, NOT verified (None if the bundle has none).

    For a return bundle signed by a coordinator device that only the attached
    (newer) roster lists: open it first with ``roster.open_roster(blob,
    pinned_root, held_version)`` — the root signature makes it trustworthy on
    its own — then pass the new roster's ``key_status`` to :func:`read_bundle`,
    which also checks the blob is the one the bundle's header names.
    """
    raw = _read_source(source, limits)
    found = _iter_members(io.BytesIO(raw), limits)
    _require_members(found)
    return found.get(ROSTER_NAME)


def _decompress_capped(compressed: bytes, cap: int, limits: Limits) -> bytes:
    """zstd-decompress, stopping as soon as output would exceed ``cap`` bytes."""
    dctx = zstandard.ZstdDecompressor(max_window_size=limits.max_zstd_window_bytes)
    out = bytearray()
    try:
        with dctx.stream_reader(io.BytesIO(compressed), read_across_frames=True) as reader:
            while True:
                chunk = reader.read(min(1 << 20, cap + 1 - len(out)))
                if not chunk:
                    break
                out += chunk
                if len(out) > cap:
                    raise TooLarge(
                        "bundle content expands beyond its declared size; refused before "
                        "inflating it (possible decompression bomb)"
                    )
    except BundleError:
        raise
    except Exception as err:  # zstandard.ZstdError and friends
        raise BadFormat("bundle content cannot be decompressed") from err
    return bytes(out)


@dataclass(frozen=True)
class SignedBundle:
    """A bundle whose structure, header and signature verified (step one of reading)."""

    header: dict[str, Any]
    members: dict[str, bytes]
    signer: KeyStatus
    raw: bytes  # the file as read


@dataclass(frozen=True)
class VerifiedBundle(SignedBundle):
    """A bundle whose signature, header binding and content hashes verified (not decrypted)."""


def _altered() -> BadSignature:
    return BadSignature("signature does not verify: the bundle was damaged or altered")


def verify_signer(
    source: Path | str | bytes,
    *,
    key_lookup: KeyLookup,
    limits: Limits = Limits(),
    expected_program_id: str | None = None,
    allow_revoked: bool = False,
) -> SignedBundle:
    """Reading, step one: structure, header, and who signed it (steps 1–9 of the spec).

    Size; tar and members; header format and fields; signer on the roster; a newer format version
    (believed only when a known signer signed exactly this header); signer not revoked (unless
    ``allow_revoked``); signature and trusted comment bind this payload and header; program
    (with ``expected_program_id``); signer is the header's source_device and, for "return"
    bundles, a coordinator.
    """
    raw = _read_source(source, limits)
    found = _iter_members(io.BytesIO(raw), limits)
    _require_members(found)
    header_bytes = found[HEADER_NAME]
    try:
        header = _parse_header_bytes(header_bytes)
        newer = None
    except NewerFormat as err:
        header, newer = None, err

    signature = found[SIGNATURE_NAME]
    try:
        key_id = signature_key_id(signature)
    except SignatureInvalid as err:
        raise _altered() from err
    status = key_lookup(key_id)
    if not isinstance(status, KeyStatus):
        raise TypeError("key_lookup must return a KeyStatus")
    payload_age = found[PAYLOAD_NAME]
    header_hash = f"header-sha256:{hashlib.sha256(header_bytes).hexdigest()}"
    if newer is not None:
        # A header claiming a newer format is believed only if a device we know signed exactly
        # this header; otherwise someone altered the version field (or the file is damaged).
        if status.state == "unknown" or status.signing_public is None:
            raise NewerFormat(f"{newer} (or the file was altered: its signer is not on this roster)")
        try:
            comment = verify(payload_age, signature, status.signing_public)
        except SignatureInvalid as err:
            raise _altered() from err
        if not comment.endswith(header_hash):
            raise BadSignature("signature does not verify: the bundle header was damaged or altered")
        raise newer
    assert header is not None
    if status.state == "unknown":
        if expected_program_id is not None and header["program_id"] != expected_program_id:
            raise WrongProgram("this bundle belongs to another program (its signer is not on this roster)")
        raise UnknownSigner(f"signed by a device that is not on the roster (key {key_id_hex(key_id)})")
    if status.state == "revoked" and not allow_revoked:
        raise RevokedSigner(
            f"signed by revoked device {status.device_id or key_id_hex(key_id)}"
            + (f" (revoked {status.revoked_at})" if status.revoked_at else "")
        )
    assert status.signing_public is not None  # KeyStatus guarantees it for known keys
    try:
        comment = verify(payload_age, signature, status.signing_public)
    except SignatureInvalid as err:
        raise _altered() from err
    if comment != trusted_comment_for(header["bundle_id"], header_bytes):
        raise BadSignature("signature does not verify: the bundle header was damaged or altered")
    # Checked only now that the header is authenticated: a damaged program id is "altered",
    # not "another program".
    if expected_program_id is not None and header["program_id"] != expected_program_id:
        raise WrongProgram("this bundle belongs to another program")
    # The signature proves which device made the bundle; the header must not
    # claim another one, or an enrolled device could write as its neighbour.
    if status.device_id is not None and status.device_id != header["source_device"]:
        raise SignerMismatch("bundle is signed by a different device than the one it names")
    if header["kind"] == "return" and status.role != "coordinator":
        raise SignerMismatch("a return bundle must be signed by a coordinator device")
    return SignedBundle(header=header, members=found, signer=status, raw=raw)


def verify_content(signed: SignedBundle) -> VerifiedBundle:
    """Reading, step two: the encrypted payload and the attached roster are the ones the signed
    header names (step 10, tampered)."""
    header, found = signed.header, signed.members
    if hashlib.sha256(found[PAYLOAD_NAME]).hexdigest() != header["payload_sha256"]:
        raise Tampered("encrypted content does not match its signed hash")
    roster_blob = found.get(ROSTER_NAME)
    if (None if roster_blob is None else hashlib.sha256(roster_blob).hexdigest()) != header["roster_sha256"]:
        raise Tampered("roster attached to the bundle does not match its signed hash")
    return VerifiedBundle(header=header, members=found, signer=signed.signer, raw=signed.raw)


def verify_bundle(
    source: Path | str | bytes,
    *,
    key_lookup: KeyLookup,
    limits: Limits = Limits(),
    expected_program_id: str | None = None,
    allow_revoked: bool = False,
) -> VerifiedBundle:
    """Everything :func:`read_bundle` checks before decrypting: :func:`verify_signer`, then
    :func:`verify_content`.

    Cheap (no decryption): it is what decides that a file is a copy of a bundle already imported.
    ``allow_revoked`` accepts a revoked signer's key (to recognise a copy of a bundle imported
    before the revocation, or for a coordinator's explicit decision to review one).
    """
    return verify_content(
        verify_signer(
            source,
            key_lookup=key_lookup,
            limits=limits,
            expected_program_id=expected_program_id,
            allow_revoked=allow_revoked,
        )
    )


def decrypt_payload(verified: VerifiedBundle, *, identity: DeviceKeys, limits: Limits = Limits()) -> OpenedBundle:
    """Reading, step three (steps 11–17): we are a recipient (not-for-us); declared sizes within
    limits (too-large); age decryption (not-for-us, bad-format); capped decompression
    (too-large, bad-format); plaintext size and hash (tampered); msgpack structure (bad-format);
    change count (too-large, bad-format)."""
    header, status = verified.header, verified.signer
    payload_age = verified.members[PAYLOAD_NAME]
    assert status.signing_public is not None

    if identity.age_recipient not in header["recipients"]:
        raise NotForUs("this bundle is encrypted for another coordinator or device")
    if header["plaintext_size"] > limits.max_plaintext_bytes:
        raise TooLarge(
            f"bundle content is {header['plaintext_size']} bytes, more than the limit of {limits.max_plaintext_bytes}"
        )
    if header["change_count"] > limits.max_changes:
        raise TooLarge(f"bundle holds {header['change_count']} changes, more than the limit of {limits.max_changes}")

    try:
        compressed = pyrage.decrypt(payload_age, [identity.age_identity_obj()])
    except pyrage.DecryptError as err:
        if "no matching keys" in str(err).lower():
            raise NotForUs("this bundle is encrypted for another coordinator or device") from err
        raise BadFormat("bundle content cannot be decrypted (damaged)") from err
    except Exception as err:
        raise BadFormat("bundle content cannot be decrypted (damaged)") from err

    plaintext = _decompress_capped(compressed, header["plaintext_size"], limits)
    del compressed
    if (
        len(plaintext) != header["plaintext_size"]
        or hashlib.sha256(plaintext).hexdigest() != header["plaintext_sha256"]
    ):
        raise Tampered("content does not match its signed hash")
    payload = _unpack_payload(plaintext, limits)
    if len(payload.get("changes", [])) != header["change_count"]:
        raise BadFormat("bundle content does not match its header (change count)")
    return OpenedBundle(
        header=header,
        payload=payload,
        signer_key=status.signing_public,
        raw_sha256=hashlib.sha256(verified.raw).hexdigest(),
        signer=status,
        roster_blob=verified.members.get(ROSTER_NAME),
    )


def read_bundle(
    source: Path | str | bytes,
    *,
    identity: DeviceKeys,
    key_lookup: KeyLookup,
    limits: Limits = Limits(),
    expected_program_id: str | None = None,
    allow_revoked: bool = False,
) -> OpenedBundle:
    """Verify and open a bundle entirely in memory (nothing is written).

    Three steps, each with its own errors (docs/bundle-format.md §7, in that order):
    :func:`verify_signer` (size, structure, header, signer, signature, program, source device),
    :func:`verify_content` (payload and roster hashes), :func:`decrypt_payload` (recipient,
    limits, decryption, capped decompression, plaintext hash, msgpack, change count).  The
    schema version is the caller's to check: :func:`check_schema_version`.
    """
    verified = verify_bundle(
        source,
        key_lookup=key_lookup,
        limits=limits,
        expected_program_id=expected_program_id,
        allow_revoked=allow_revoked,
    )
    return decrypt_payload(verified, identity=identity, limits=limits)
