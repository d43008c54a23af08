"""Ctrl-C before a script's body runs: one line, not a traceback.

A script imports this first (it is light): loading numpy, scipy and SQLAlchemy takes
seconds, and a Ctrl-C meanwhile would otherwise print the import traceback. Once the body
runs, :func:`app.core.cli.run_command` handles Ctrl-C itself and says what was kept.
The process still ends by SIGINT, so shells report 130 as for any interrupted command.
"""

from __future__ import annotations

import sys
from types import TracebackType

STARTING = "interrupted while starting: nothing was written"

_previous_hook = sys.excepthook


def _quiet_interrupt(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        print(STARTING, file=sys.stderr)
        return
    _previous_hook(kind, error, trace)


sys.excepthook = _quiet_interrupt
