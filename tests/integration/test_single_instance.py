"""One app per data dir, with two real `gpuwatch` processes: the second raises the first and exits 0."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpuwatch_desktop.ui.single_instance import ALREADY_RUNNING, instance_key

ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"listening for other instances on (\S+)")


class RunningApp:
    """A `gpuwatch` window process whose log lines are read by a thread, so a test can wait for one."""

    def __init__(self, tmp_path: Path, data_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gpuwatch_desktop", "--data-dir", str(data_dir),
             "--config", str(tmp_path / "settings.json"), "--exit-after", "90"],
            cwd=ROOT, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 60.0) -> re.Match[str]:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"no log line matching {pattern!r} within {timeout} s")
            if (match := re.search(pattern, line)) is not None:
                return match

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        self._reader.join(timeout=10)
        assert self.process.stderr is not None
        self.process.stderr.close()
        return code


@pytest.fixture
def first_app(tmp_path: Path) -> Iterator[RunningApp]:
    app = RunningApp(tmp_path, tmp_path / "data")
    try:
        yield app
    finally:
        if app.process.poll() is None:
            app.stop(signal.SIGKILL)


def _gpuwatch(tmp_path: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpuwatch_desktop", "--data-dir", str(data_dir),
         "--config", str(tmp_path / "second-settings.json"), *args],
        cwd=ROOT, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, capture_output=True, text=True, timeout=60)


def test_the_key_follows_the_resolved_data_dir(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert instance_key(tmp_path / "a") == instance_key(tmp_path / "a" / ".." / "a")
    assert instance_key(tmp_path / "a") != instance_key(tmp_path / "b")


def test_a_second_instance_raises_the_first_and_exits_0(tmp_path: Path, first_app: RunningApp) -> None:
    first_app.wait_for(LISTENING)
    (tmp_path / "elsewhere").mkdir()
    second = _gpuwatch(tmp_path, tmp_path / "elsewhere" / ".." / "data")  # the same dir, spelled differently
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.strip() == ALREADY_RUNNING
    first_app.wait_for("raising the window at another instance's request")
    assert first_app.process.poll() is None, "the first instance keeps running"
    assert first_app.stop() == 0


def test_another_data_dir_runs_its_own_instance(tmp_path: Path, first_app: RunningApp) -> None:
    first_app.wait_for(LISTENING)
    other = _gpuwatch(tmp_path, tmp_path / "other-data", "--exit-after", "2")
    assert other.returncode == 0, other.stderr[-2000:]
    assert ALREADY_RUNNING not in other.stdout
    assert (tmp_path / "other-data" / "history.sqlite3").exists()
    assert first_app.stop() == 0


def test_a_crashed_instance_leaves_nothing_that_blocks_the_next(tmp_path: Path, first_app: RunningApp) -> None:
    socket_path = Path(first_app.wait_for(LISTENING)[1])
    first_app.stop(signal.SIGKILL)  # no clean-up: its lock file and socket stay behind
    assert socket_path.exists()
    assert socket_path.with_name(socket_path.name + ".lock").exists()
    after = _gpuwatch(tmp_path, tmp_path / "data", "--exit-after", "2")
    assert after.returncode == 0, after.stderr[-2000:]
    assert ALREADY_RUNNING not in after.stdout
    assert LISTENING.search(after.stderr) is not None, "the new instance took over the name"
    assert not socket_path.exists(), "and removed its socket when it quit"
