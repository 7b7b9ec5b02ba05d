"""`make ui`'s process handling, without a browser: its options, and stopping a whole process group."""

from __future__ import annotations

import subprocess
import time

import psutil

from credential_health.demo import ui


def test_port_and_windows_come_from_the_environment_or_the_command_line(monkeypatch):
    monkeypatch.delenv("UI_PORT", raising=False)
    monkeypatch.delenv("UI_WINDOWS", raising=False)
    assert (ui.parse_args([]).port, ui.parse_args([]).windows) == (0, 0)  # 0: pick a free port
    monkeypatch.setenv("UI_PORT", "3111")
    monkeypatch.setenv("UI_WINDOWS", "2")
    assert (ui.parse_args([]).port, ui.parse_args([]).windows) == (3111, 2)
    assert ui.parse_args(["--port", "3222"]).port == 3222


def test_stopping_reaches_children_that_ignore_the_signal_and_leaves_nothing(monkeypatch):
    monkeypatch.setattr(ui, "STOP_GRACE_SECONDS", 2)
    # Like `dagster dev`: a leader whose children (webserver, daemon) may outlive it or ignore SIGINT.
    script = "trap '' INT; sleep 300 & sleep 300 & wait"
    leader = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    time.sleep(0.5)
    family = [psutil.Process(leader.pid), *psutil.Process(leader.pid).children(recursive=True)]
    assert len(family) == 3
    started = time.monotonic()
    ui.stop_dagster(leader)
    assert time.monotonic() - started < 10
    assert not ui.group_alive(leader.pid)
    assert not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
