"""Time to the first painted window, from source and from the PyInstaller bundle, and the bundle's size.

Each run starts ``gpuwatch --demo`` offscreen with ``GPUWATCH_STARTUP_PROBE=FILE``: the app writes the
CLOCK_MONOTONIC time of its first painted frame, compared with this process's clock just before the start.
The first run of each is cold: the page cache is dropped before it where this process may (root on Linux),
else it is only the first run after the build. Then ``--runs`` warm runs; their median is printed too.
The bundle is dist/gpuwatch/ (``make package``); when it is missing it is built first (packaging/build.py).

Targets: source <= 1,500 ms, packaged <= 2,500 ms cold; bundle <= 150 MB unpacked.
The last lines are ``cold start ms: source N packaged N`` and ``bundle MB: N``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import median

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "dist" / "gpuwatch"
TARGET_SOURCE_MS, TARGET_PACKAGED_MS, TARGET_BUNDLE_MB = 1500.0, 2500.0, 150.0
PAINT_TIMEOUT_S = 120.0


def drop_page_cache() -> bool:
    """Empty the OS page cache so the next start reads from disk; False where not allowed."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def first_paint_ms(command: list[str], directory: Path) -> float:
    """Start the app, wait for its probe file, stop it; milliseconds from the start to the first painted frame."""
    probe = directory / "probe.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "GPUWATCH_STARTUP_PROBE": str(probe)}
    args = ["--demo", "--data-dir", str(directory / "data"), "--config", str(directory / "settings.json"),
            "--exit-after", str(PAINT_TIMEOUT_S)]
    started = time.monotonic()
    process = subprocess.Popen([*command, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not probe.exists() and process.poll() is None and time.monotonic() - started < PAINT_TIMEOUT_S:
            time.sleep(0.005)  # polling a file another process writes: the cost is not in the figure
        painted = json.loads(probe.read_text())["painted_monotonic"] if probe.exists() else None
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    if painted is None:
        raise SystemExit(f"error: {command[0]} exited {process.returncode} without painting a window")
    return (painted - started) * 1000


def measure(command: list[str], runs: int) -> tuple[float, bool, list[float]]:
    """(cold ms, whether the page cache was dropped first, warm ms of each further run)."""
    with tempfile.TemporaryDirectory(prefix="gpuwatch-startup-") as directory:
        dropped = drop_page_cache()
        cold = first_paint_ms(command, Path(directory) / "cold")
        warm = [first_paint_ms(command, Path(directory) / f"warm-{i}") for i in range(runs)]
    return cold, dropped, warm


def bundle_mb(bundle: Path) -> float:
    return sum(p.lstat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def ensure_bundle(bundle: Path) -> Path:
    executable = bundle / "gpuwatch"
    if not executable.exists():
        print(f"{executable} is missing: building it (packaging/build.py, bundle only)", flush=True)
        subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--formats", "",
                        "--dist", str(bundle.parent)], check=True)
    return executable


def report(name: str, cold: float, dropped: bool, warm: list[float], target: float) -> None:
    how = "page cache dropped" if dropped else "first run, page cache not dropped (needs root)"
    print(f"{name}: cold {cold:.0f} ms ({how}); warm median {median(warm):.0f} ms over {len(warm)} runs"
          f" (min {min(warm):.0f}, max {max(warm):.0f}); target {target:.0f} ms: {cold / target:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="warm runs after the cold one (default 5)")
    parser.add_argument("--bundle", type=Path, default=BUNDLE, help="the one-folder bundle (default dist/gpuwatch)")
    args = parser.parse_args()
    executable = ensure_bundle(args.bundle)
    source = measure([sys.executable, "-m", "gpuwatch_desktop"], args.runs)
    packaged = measure([str(executable)], args.runs)
    size = bundle_mb(args.bundle)
    report("source", *source, TARGET_SOURCE_MS)
    report("packaged", *packaged, TARGET_PACKAGED_MS)
    print(f"bundle {args.bundle}: {size:.0f} MB unpacked; target {TARGET_BUNDLE_MB:.0f} MB:"
          f" {size / TARGET_BUNDLE_MB:.2f}x")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times: a busy machine inflates them)")
    print(f"cold start ms: source {source[0]:.0f} packaged {packaged[0]:.0f}")
    print(f"bundle MB: {size:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
