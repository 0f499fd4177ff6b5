"""Restoring a database snapshot: the sandbox profile's JSON file written back where the backup
read it, or on a Debian server the dump fed to ``mysql`` / ``pg_restore`` over SSH."""

from __future__ import annotations

import posixpath
import re
import shlex
from contextlib import ExitStack

from django.utils.translation import gettext as _

from backups import sources
from infra import ssh

from .commands import Runner, StdinClosed, start_with_stdin, tail
from .errors import RestoreCancelled, RestoreFailed
from .results import Progress, RestoreResult
from .selection import select_entries
from .server import restore_to_server
from .source import BlobReader, Spool, check_blobs, file_pieces

DATABASE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")  # as hosting.models.Database.name


def load_command(engine: str, database: str) -> tuple[str, ...]:
    """The command that loads a dump from its stdin into ``database`` (Debian profile):
    ``mysql <db>`` for a ``mysqldump``, ``pg_restore --clean --if-exists --single-transaction
    --dbname=<db>`` for a ``pg_dump --format=custom`` (one transaction: all or nothing)."""
    if not DATABASE_NAME.match(database):
        raise ValueError(_("“%(name)s” is not a database name.") % {"name": database})
    if engine == "mariadb":
        return ("mysql", database)
    if engine == "postgresql":
        return (
            "pg_restore",
            "--clean",
            "--if-exists",
            "--single-transaction",
            f"--dbname={database}",
        )
    raise ValueError(_("Unknown database engine %(engine)s.") % {"engine": engine})


def restore_dump(
    repo,
    snapshot,
    *,
    engine: str,
    database: str,
    profile: str,
    root: str,
    target: ssh.SshTarget | None,
    progress=None,
    cancelled=None,
    client: ssh.SshClient | None = None,
    pool: ssh.SshPool | None = None,
    timeout: float | None = None,
) -> RestoreResult:
    """Put the dump in ``snapshot`` (a database snapshot) back into ``database``.

    ``profile``/``root`` as for ``sources.dump_spec`` (the server's profile; its root on the
    sandbox profile, "/" otherwise). Sandbox: the JSON file is restored and verified like any
    file (restore_to_server). Debian: the whole dump is read and authenticated first (spooled
    on this machine), then fed to load_command's command over SSH; a non-zero exit raises
    RestoreFailed with its error output. The result's ``verified`` is False there: a database
    cannot be compared byte for byte with its dump."""
    if not DATABASE_NAME.match(database):
        raise ValueError(_("“%(name)s” is not a database name.") % {"name": database})
    spec = sources.dump_spec(profile, root, engine, database)
    entries = select_entries(repo, snapshot, [spec.name])
    if spec.path is not None:
        return restore_to_server(
            repo,
            snapshot,
            entries,
            target=target,
            dest_root=posixpath.dirname(spec.path),
            progress=progress,
            cancelled=cancelled,
            client=client,
            pool=pool,
            timeout=timeout,
        )
    [entry] = entries
    check_blobs(repo, snapshot, entries)
    tracker = Progress(progress, entry.size)
    argv = list(load_command(engine, database))
    with ExitStack() as stack:
        reader = BlobReader(repo, entries)
        stack.callback(reader.close)
        spool = Spool(file_pieces(reader, snapshot, entry))
        stack.callback(spool.close)
        if cancelled is not None and cancelled():  # the last moment before the database changes
            raise RestoreCancelled(0, 0)
        runner = Runner(stack, target, client, pool, timeout)
        command, stdin = start_with_stdin(runner, argv)
        stack.callback(command.close)
        try:
            for data in spool.pieces():
                stdin.write(data)
                tracker.add(len(data))
            stdin.close()
        except StdinClosed:
            pass  # the command exited early: its status tells why
        status, stderr = command.wait()
        if status != 0:
            where = f"{runner.where}:{database}"
            raise RestoreFailed(where, shlex.join(argv), tail(stderr) or str(status))
    tracker.add(files=1)
    tracker.finish()
    return RestoreResult(files=1, bytes=entry.size, seconds=tracker.seconds, verified=False)
