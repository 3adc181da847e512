"""Backup and recovery subcommands: backup, restore, coordinator export-root (the `coordinator init
--from-root` option is registered with `coordinator init` in commands/sync.py). See `vipterm help recovery`."""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from vipterm.commands.common import (
    add_db_argument,
    database_path,
    emit_json,
    given_passphrase,
    note,
    read_passphrase,
    unlock,
)
from vipterm.errors import ExitCode, ValidationError

RECOVERY_PASSPHRASE_ENV = "VIPTERM_RECOVERY_PASSPHRASE"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", help="write an encrypted snapshot of the database (safe while the app runs)")
    add_db_argument(p)
    p.add_argument("--to", type=Path, required=True, metavar="DIR", help="folder to write the backup to")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="check a backup and write it as a new database (never over an existing one)")
    p.add_argument("backup", type=Path, metavar="FILE", help="the backup file")
    add_db_argument(p)
    p.set_defaults(func=cmd_restore)


def register_coordinator(csub: argparse._SubParsersAction) -> None:
    p = csub.add_parser(
        "export-root",
        help="write the program's root key and the coordinator's keys, encrypted "
        "under a separate recovery passphrase, and a printable recovery sheet",
    )
    add_db_argument(p)
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="the recovery file to write")
    p.add_argument(
        "--kept-at",
        default="",
        metavar="WHERE",
        help="where the recovery file and passphrase will be kept (printed on the sheet)",
    )
    add_recovery_passphrase_argument(p)
    p.set_defaults(func=cmd_export_root)


def add_recovery_passphrase_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--recovery-passphrase-file",
        type=Path,
        metavar="FILE",
        help=f"read the recovery passphrase from FILE (else ${RECOVERY_PASSPHRASE_ENV}, else a prompt)",
    )


def read_recovery_passphrase(args: argparse.Namespace, *, twice: bool) -> str:
    """The recovery passphrase: --recovery-passphrase-file, else $VIPTERM_RECOVERY_PASSPHRASE, else a prompt."""
    given = given_passphrase(
        getattr(args, "recovery_passphrase_file", None),
        RECOVERY_PASSPHRASE_ENV,
        "--recovery-passphrase-file",
        "recovery passphrase",
    )
    if given is not None:
        return given
    first = getpass.getpass("Recovery passphrase: ")
    if twice and getpass.getpass("Recovery passphrase again: ") != first:
        raise ValidationError("the two recovery passphrases do not match; nothing was written", field="passphrase")
    return first


def cmd_backup(args) -> int:
    from vipterm.commands.progress import progress_for
    from vipterm.services.backup import take_backup

    with unlock(args) as store:
        result = take_backup(store, args.to, progress=progress_for(args))
    if args.json:
        emit_json({"path": result.path, "taken_at": result.taken_at, "bytes": result.size}, store.clock)
    else:
        print(f"wrote {result.path} ({result.size:,} bytes, encrypted; it opens with this database's passphrase)")
    return ExitCode.OK


def cmd_restore(args) -> int:
    from vipterm.services.backup import restore_backup

    path = database_path(args)
    if path.exists():
        from vipterm.errors import DatabaseExists

        raise DatabaseExists(f"{path} already exists; restore writes a new database (choose another --db)")
    passphrase = read_passphrase(args, "Passphrase of the backed-up database: ")
    store, info = restore_backup(args.backup, path, passphrase)
    store.close()
    print(f"restored {args.backup.name} to {path}")
    print(f"device {info['device_id']} ({info['role']}), schema {info['schema_version']}; integrity ok")
    note(args, "it is the same device as the one backed up: read `vipterm help recovery` before syncing from it")
    return ExitCode.OK


def cmd_export_root(args) -> int:
    from vipterm.services.recovery import export_root

    with unlock(args) as store:
        recovery_passphrase = read_recovery_passphrase(args, twice=True)
        result = export_root(store, args.out, recovery_passphrase, kept_at=args.kept_at)
    print(f"wrote {result.path} (encrypted under the recovery passphrase)")
    print(f"wrote {result.sheet} (the recovery sheet: print it, then delete the file)")
    print(f"program root key fingerprint: {result.root_fingerprint}")
    return ExitCode.OK


def cmd_init_from_root(args) -> int:
    """`coordinator init --from-root FILE [--backup FILE]`: the lost coordinator, rebuilt."""
    from vipterm.commands.common import new_passphrase
    from vipterm.errors import DatabaseExists
    from vipterm.services.recovery import init_from_root

    if not args.from_root:
        raise ValidationError(
            "--backup is used with --from-root (a plain restore is `vipterm restore`)", field="backup"
        )
    if args.existing or args.escrow or args.force or args.time_zone:
        raise ValidationError(
            "--from-root takes the program's settings from the recovery file: leave out "
            "--existing, --escrow, --force and --time-zone",
            field="from_root",
        )
    path = database_path(args)
    if path.exists():
        raise DatabaseExists(f"{path} already exists; a recovered coordinator is written to a new database")
    recovery_passphrase = read_recovery_passphrase(args, twice=False)
    if args.backup:
        passphrase = read_passphrase(args, "Passphrase of the coordinator backup: ")
    else:
        passphrase = new_passphrase(args, "Passphrase for the new coordinator database")
    result = init_from_root(path, passphrase, args.from_root, recovery_passphrase, backup=args.backup)
    store = result.store
    try:
        print(f"created {path}" + (" from the coordinator backup" if result.from_backup else ""))
        print(f"device {store.device_id} (the same coordinator to every laptop)")
        print(f"program time zone: {store.time_zone}")
        print(f"program root key fingerprint: {result.root_fingerprint}")
        print(f"roster version {result.roster_version}: {result.laptops} laptop(s) keep syncing; nobody is re-enrolled")
        note(args, "import the laptops' next bundles (vipterm sync import) to bring back their work")
    finally:
        store.close()
    return ExitCode.OK
