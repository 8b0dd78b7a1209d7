"""GPU Watchdog Desktop: watch GPU clusters you rent or own."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gpuwatch-desktop")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
