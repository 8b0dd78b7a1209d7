"""The packaged app, built once per source state with the real build command (packaging/build.py --fast).

Builds go to build/test-bundle/<hash>/, the hash covering the app's and the pod package's sources, resources/,
terraform/, packaging/, pyproject.toml and the installed distributions, so an unchanged tree reuses its build
(the first build takes one to three minutes of CPU). A file lock keeps two test sessions from building at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import distributions
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ("gpuwatch_desktop", "pod_image/gpuwatch_pod", "resources", "terraform", "packaging", "pyproject.toml")
CACHE = ROOT / "build" / "test-bundle"


def linux_packages() -> ModuleType:
    """packaging/linux_packages.py (packaging/ is not an importable package: its name is taken on PyPI)."""
    spec = importlib.util.spec_from_file_location("gpuwatch_linux_packages", ROOT / "packaging" / "linux_packages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def project_version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def source_hash() -> str:
    digest = hashlib.sha256(sys.version.encode())
    for name in INPUTS:
        top = ROOT / name
        for path in sorted([top] if top.is_file() else top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    installed = sorted(f"{d.metadata['Name']}=={d.version}" for d in distributions())
    digest.update("\n".join(installed).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Built:
    version: str
    dist: Path
    bundle: Path  # dist/gpuwatch: the one-folder app
    executable: Path
    tarball: Path
    deb: Path
    build_s: float | None  # None: reused from an earlier session


def _build(target: Path) -> float:
    started = time.monotonic()
    work = target.with_name(target.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    result = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "build.py"), "--fast", "--dist", str(work / "dist"),
         "--work", str(work / "work")], cwd=ROOT, capture_output=True, text=True, timeout=1500)
    if result.returncode != 0:
        pytest.fail(f"packaging/build.py failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                    f"{result.stderr[-5000:]}")
    shutil.rmtree(work / "work")  # PyInstaller's work files and the .deb staging: 300 MB not needed again
    work.rename(target)
    return time.monotonic() - started


@pytest.fixture(scope="session")
def built() -> Iterator[Built]:
    if not sys.platform.startswith("linux"):
        pytest.skip("the packaging test builds the Linux bundle and packages")
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / source_hash()
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be building this very tree
        build_s = None
        if not (target / "dist").is_dir():
            for old in CACHE.iterdir():  # one build kept: each is ~400 MB
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
            build_s = _build(target)
        fcntl.flock(lock, fcntl.LOCK_UN)
    packages = linux_packages()
    version = project_version()
    dist = target / "dist"
    yield Built(version, dist, dist / "gpuwatch", dist / "gpuwatch" / "gpuwatch", dist / packages.tarball_name(version),
                dist / packages.deb_name(version), build_s)


def elf_needed(path: Path) -> list[str] | None:
    """The sonames a 64-bit little-endian ELF file needs (DT_NEEDED); None when it is not one."""
    blob = path.read_bytes()
    if blob[:4] != b"\x7fELF" or blob[4:6] != b"\x02\x01":
        return None
    (section_offset,) = struct.unpack_from("<Q", blob, 0x28)
    entry_size, count = struct.unpack_from("<HH", blob, 0x3A)
    sections = [struct.unpack_from("<IIQQQQII", blob, section_offset + i * entry_size) for i in range(count)]
    needed: list[str] = []
    for _, kind, _, _, offset, size, link, _ in sections:
        if kind != 6:  # SHT_DYNAMIC: (tag, value) pairs; DT_NEEDED's value is an offset into the linked strings
            continue
        strings = sections[link][4]
        for start in range(offset, offset + size, 16):
            tag, value = struct.unpack_from("<qQ", blob, start)
            if tag == 1:
                needed.append(blob[strings + value:blob.index(b"\0", strings + value)].decode())
    return needed


def app_env(**extra: str) -> dict[str, str]:
    """The test environment for the packaged app: offscreen Qt, no variables of the source tree's interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**env, "QT_QPA_PLATFORM": "offscreen", **extra}
