"""``vss up`` fails fast on a taken port, prints every process's address, and stops every process
when one dies (issue 12, item 9)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

import psutil
import pytest

from mictlanx_sync.vss.serve import free_port

# Starts and kills its own VSS processes: skipped when MICTLANX_TEST_URI names another router.
pytestmark = pytest.mark.local_vss


def _up(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "mictlanx_sync", "vss", "up", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.timeout(60)
def test_vss_up_on_a_taken_port_fails_fast_and_says_which(tmp_path):
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        child = _up("--port", str(port), "--peers", "1", "--data-dir", str(tmp_path))
        try:
            out, err = child.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGINT)
            out, err = child.communicate(timeout=30)
            pytest.fail(f"vss up kept running on a taken port; it printed {out!r}")
    assert child.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in err and "mictlanx-router-0" in err
    assert "mictlanx://" not in out  # no URI announced for a VSS that is not there


@pytest.mark.timeout(90)
def test_vss_up_prints_every_process_and_stops_all_when_one_dies(tmp_path):
    child = _up("--port", "0", "--peers", "2", "--data-dir", str(tmp_path))
    assert child.stdout is not None
    try:
        lines = []
        for raw in child.stdout:
            lines.append(raw.strip())
            if raw.startswith("mictlanx://"):
                break
        assert lines and lines[-1].startswith("mictlanx://"), lines + [child.stderr.read()]
        named = {m.group(1): m.group(2) for m in (re.match(r"(?:peer|router) (\S+) (http://\S+)$", ln)
                                                  for ln in lines) if m}
        assert set(named) == {"mictlanx-router-0", "mictlanx-peer-0", "mictlanx-peer-1"}, lines
        processes = {}
        for proc in psutil.Process(child.pid).children():
            cmdline = proc.cmdline()
            for name in named:
                if name in cmdline:
                    processes[name] = proc
        assert set(processes) == set(named), lines
        for name, proc in processes.items():  # the printed address is the process's own
            port = int(named[name].rsplit(":", 1)[1])
            assert str(port) in proc.cmdline(), (name, proc.cmdline())
        processes["mictlanx-peer-1"].send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
            child.communicate(timeout=30)
    assert child.returncode == 1
    assert "mictlanx-peer-1 exited; stopping the other processes" in err
    for name in ("mictlanx-router-0", "mictlanx-peer-0"):
        proc = processes[name]
        assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE, name
