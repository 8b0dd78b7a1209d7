"""Starting the app: display check, the QApplication, one instance per data dir, the qasync loop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import qasync
from PySide6.QtWidgets import QApplication

from gpuwatch_desktop.cli import AppOptions
from gpuwatch_desktop.ui.app import AppController, app_data_dir
from gpuwatch_desktop.ui.single_instance import HandedOver, claim_instance
from gpuwatch_desktop.ui.startup_probe import install_startup_probe
from gpuwatch_desktop.ui.tray import app_icon


def missing_display() -> str | None:
    """Why no window can open (Linux without X11/Wayland and no QT_QPA_PLATFORM), else None."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("no display: neither DISPLAY nor WAYLAND_DISPLAY is set. Run it in a desktop session, under Xvfb "
            "(xvfb-run gpuwatch ...), or with QT_QPA_PLATFORM=offscreen for screenshots")


def run_app(options: AppOptions) -> int:
    reason = missing_display()
    if reason is not None:
        print(f"gpuwatch: {reason}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per scrape is noise
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("GPU Watchdog")
    app.setOrganizationName("gpuwatch")
    app.setDesktopFileName("gpuwatch")  # Wayland app id: matches packaging/linux/gpuwatch.desktop (icon, dock)
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)
    instance = claim_instance(app_data_dir(options))  # one app per data dir: a second one raises the first
    if isinstance(instance, HandedOver):
        print(f"gpuwatch: {instance.message}" if instance.exit_code else instance.message,
              file=sys.stderr if instance.exit_code else sys.stdout)
        return instance.exit_code
    install_startup_probe(app)  # only with GPUWATCH_STARTUP_PROBE set (bench/startup.py); owned by the app
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    controller = AppController(options, app)
    instance.raiseRequested.connect(lambda: controller.window.bring_to_front() if controller.window else None)
    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl+C in a terminal, or a service manager stopping us
        signal.signal(signum, lambda *_: controller.quit_requested.set())
    with loop, instance:
        return loop.run_until_complete(controller.run())
