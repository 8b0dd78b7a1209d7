"""Helpers for tests that drive the fake `terraform` executable in this folder (see its docstring)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gpuwatch_desktop.provisioning.model import Progress, ProgressKind

FAKE_DIR = Path(__file__).resolve().parent
FAKE_BINARY = FAKE_DIR / "terraform"
FAKE_KNOBS = ("FAKE_TF_FAIL_ON", "FAKE_TF_SLOW_S", "FAKE_TF_NETWORK_DOWN", "FAKE_TF_NETWORK_DOWN_AFTER",
              "FAKE_TF_STUCK")


def put_fake_first_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKE_DIR}{os.pathsep}{os.environ.get('PATH', '')}")
    for knob in FAKE_KNOBS:
        monkeypatch.delenv(knob, raising=False)


class ProgressLog:
    """An on_progress callback that keeps every Progress and lets a test await a particular one."""

    def __init__(self) -> None:
        self.items: list[Progress] = []
        self._waiters: list[tuple[Callable[[Progress], bool], asyncio.Event]] = []

    def __call__(self, progress: Progress) -> None:
        self.items.append(progress)
        for wanted, event in self._waiters:
            if wanted(progress):
                event.set()

    async def wait_for(self, kind: ProgressKind, address: str = "") -> None:
        def wanted(p: Progress) -> bool:
            return p.kind == kind and (not address or p.address == address)

        event = asyncio.Event()
        if any(wanted(p) for p in self.items):
            return
        self._waiters.append((wanted, event))
        await asyncio.wait_for(event.wait(), 60)

    def of(self, kind: ProgressKind) -> list[Progress]:
        return [p for p in self.items if p.kind == kind]

    def text(self) -> str:
        return "\n".join(p.message for p in self.items)
