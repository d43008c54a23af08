"""Starting a server process for a test or a benchmark: one that dies at start-up is
reported with its log at once, not after the start-up timeout."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from devtools.processes import ServerStartError, http_server


def test_a_server_that_exits_at_start_up_is_reported_with_its_log(tmp_path: Path) -> None:
    dies = [sys.executable, "-c", "import sys; print('cannot start: no database'); sys.exit(3)"]
    started = time.monotonic()
    with (
        pytest.raises(ServerStartError, match="exited early:\ncannot start: no database"),
        http_server(dies, env={}, log=tmp_path / "server.log", start_timeout=60),
    ):
        pass
    assert time.monotonic() - started < 30
