"""The subprocess-server helper itself: a server that dies or never answers fails the test quoting its
log, and one that ignores the stop signal is killed rather than left running."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from tests.served_process import launch, serving, stop
from xcore.testing.servers import free_port

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
)


def test_a_server_that_exits_fails_the_test_with_its_status_and_log(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('boom', flush=True); raise SystemExit(3)"]
    with (
        pytest.raises(pytest.fail.Exception, match=r"(?s)^thing exited with 3:\nboom"),
        serving(command, port=free_port(), log=tmp_path / "log", name="thing"),
    ):
        pass


def test_a_server_that_never_answers_fails_the_test_in_time(tmp_path: Path) -> None:
    command = [sys.executable, "-c", IGNORES_SIGTERM]
    with (
        pytest.raises(pytest.fail.Exception, match=r"^xcore serve did not answer within 1s:\n"),
        serving(command, port=free_port(), log=tmp_path / "log", ready_timeout=1, stop_timeout=1),
    ):
        pass


def test_stop_kills_what_ignores_the_signal(tmp_path: Path) -> None:
    process = launch([sys.executable, "-c", IGNORES_SIGTERM], log=tmp_path / "log")
    deadline = time.monotonic() + 30
    while "up" not in (tmp_path / "log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stop(process, timeout=1) == -signal.SIGKILL
