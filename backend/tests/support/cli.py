"""Running a script's ``main()`` or Alembic's CLI in this process, as a subprocess would.

Starting Python and importing numpy, SQLAlchemy and friends costs a second or two of CPU
per child process; most CLI tests only need what ``main()`` returns and prints. So they
call it here, with the environment a child would get, output captured, and every piece of
process-wide state the CLI touches (settings cache, session factory, logging, retry
hooks) put back afterwards. Each CLI keeps one test that runs it as a real subprocess.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType

import stamina

from app.config import BACKEND_DIR, get_settings
from app.core import db

SCRIPTS = BACKEND_DIR / "scripts"


@dataclass(frozen=True)
class CliRun:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def returncode(self) -> int:
        """As ``subprocess.CompletedProcess`` names it."""
        return self.code


_loaded: dict[str, ModuleType] = {}


def script(name: str) -> ModuleType:
    """``backend/scripts/<name>.py`` as a module (loaded once)."""
    if name not in _loaded:
        spec = importlib.util.spec_from_file_location(f"scripts_{name}", SCRIPTS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while being built
        spec.loader.exec_module(module)
        _loaded[name] = module
    return _loaded[name]


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    get_settings.cache_clear()
    db.AsyncSessionLocal._maker = None
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        db.AsyncSessionLocal._maker = None


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """Scripts and Alembic's env.py configure logging for a whole process: undo it."""
    manager = logging.Logger.manager
    loggers = [
        logging.getLogger(),
        *(v for v in manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers]
    hooks = stamina.instrumentation.get_on_retry_hooks()
    try:
        yield
    finally:
        for lg, level, handlers, propagate, disabled in saved:
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate, lg.disabled = propagate, disabled
        stamina.instrumentation.set_on_retry_hooks(list(hooks))


@contextlib.contextmanager
def _stdin(text: str | None) -> Iterator[None]:
    """``text`` as standard input (an empty one when None, as a child with no input)."""
    saved = sys.stdin
    sys.stdin = io.StringIO(text or "")
    try:
        yield
    finally:
        sys.stdin = saved


def run_main(
    main: Callable[[list[str]], int],
    args: list[str],
    env: Mapping[str, str],
    *,
    stdin: str | None = None,
) -> CliRun:
    """``main(args)`` with ``env`` set, ``stdin`` as standard input, stdout and stderr
    captured; an argparse exit is a return code like any other, and an exception that
    escapes is what the interpreter would make of it: a traceback on stderr and exit 1."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        _environment(env),
        _logging_restored(),
        _stdin(stdin),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        try:
            code = main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except Exception:
            traceback.print_exc()
            code = 1
    return CliRun(code, stdout.getvalue(), stderr.getvalue())


def run_script(name: str, *args: str, env: Mapping[str, str], stdin: str | None = None) -> CliRun:
    """``python scripts/<name>.py <args>``, in this process."""
    return run_main(script(name).main, list(args), env, stdin=stdin)


def run_alembic(*args: str, env: Mapping[str, str]) -> CliRun:
    """``alembic <args>`` from backend/, in this process (exit code as the CLI's)."""
    from alembic.config import CommandLine, Config

    def call(argv: list[str]) -> int:
        # CommandLine.main, but with this call's stdout: Config's default is bound at import.
        cli = CommandLine(prog="alembic")
        options = cli.parser.parse_args(["-c", str(BACKEND_DIR / "alembic.ini"), *argv])
        config = Config(
            file_=options.config[0], ini_section=options.name, cmd_opts=options, stdout=sys.stdout
        )
        cli.run_cmd(config, options)
        return 0

    return run_main(call, list(args), env)


def script_env(database_url: str, **extra: str) -> dict[str, str]:
    """What a script reads from the environment, bound to ``database_url``; FMP_API_KEY is
    blank unless given (a developer's backend/.env cannot leak a real key into a test)."""
    return {"DATABASE_URL": database_url, "FMP_API_KEY": "", "COLUMNS": "80", **extra}


__all__ = ["CliRun", "run_alembic", "run_main", "run_script", "script", "script_env"]
