"""Migrations under faults, the same way every time: a revision blocked by a reader of its
table, and a run killed in the middle of ``CREATE INDEX CONCURRENTLY``.

A blocked revision waits ``FAST_LOCK_TIMEOUT`` for its lock, then fails naming the reader.
For the kill, ``alembic upgrade head`` runs as a child process (SIGKILL needs one) while
another session holds an open snapshot: the concurrent build must wait for that snapshot
before it marks the index valid, so the kill always lands mid-build, leaving an INVALID
index behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass

from sqlalchemy import text

from app.config import BACKEND_DIR
from devtools.databases import TestDatabase, subprocess_env
from tests.support.schema_state import connect, invalid_indexes, open_transaction, wait_for

FAST_LOCK_TIMEOUT = "250ms"
"""MIGRATION_LOCK_TIMEOUT of a run meant to be blocked: long enough for a lock nobody
holds, short to wait out."""


def long_reader(table: str) -> str:
    """A report that started before the migration and is still reading ``table``."""
    return f"SELECT count(*) FROM {table}"  # noqa: S608 (a table name of the tests)


def assert_names_blocker(output: str, pid: int, table: str) -> None:
    """The lock failure, said once (Alembic prints it as FAILED: ...), naming the reader."""
    assert output.count(f"lock_timeout={FAST_LOCK_TIMEOUT}") == 1, output
    assert f"pid {pid} holds AccessShareLock on {table}" in output, output


_BUILD_WAITING = text(
    """
    SELECT p.pid, c.relname AS index_name
    FROM pg_stat_progress_create_index p
    JOIN pg_class c ON c.oid = p.index_relid
    WHERE p.datname = current_database() AND p.command = 'CREATE INDEX CONCURRENTLY'
      AND p.phase LIKE 'waiting for old snapshots%'
    """
)


@dataclass(frozen=True)
class KilledBuild:
    index_name: str
    """The index whose concurrent build the kill interrupted."""
    invalid_after: list[str]
    """INVALID indexes once the killed client's server session had ended."""


def kill_upgrade_during_index_build(db: TestDatabase) -> KilledBuild:
    """Start ``alembic upgrade head`` on ``db``, SIGKILL it while a concurrent index build
    waits, and return once the server has ended that build (the snapshot it waits for
    still open: nothing orphaned is left to block a re-run)."""
    env = subprocess_env(db, MIGRATION_LOCK_TIMEOUT="5min")
    with (
        open_transaction(db, "SELECT count(*) FROM positions", isolation_level="REPEATABLE READ"),
        connect(db) as watcher,
    ):
        migration = subprocess.Popen(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=BACKEND_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            def build_waiting() -> object:
                row = watcher.execute(_BUILD_WAITING).first()
                watcher.rollback()
                if row is None and migration.poll() is not None:
                    raise AssertionError(f"migration exited ({migration.returncode}) early")
                return row

            build = wait_for(build_waiting, what="the concurrent index build to wait")
            os.kill(migration.pid, signal.SIGKILL)
        finally:
            migration.kill()
            migration.wait(timeout=30)

        def build_gone() -> bool:
            alive = watcher.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": build.pid}
            ).scalar_one()
            watcher.rollback()
            return alive == 0

        wait_for(build_gone, what="the killed migration's server session to end")
        return KilledBuild(str(build.index_name), invalid_indexes(watcher))
