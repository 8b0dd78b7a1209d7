"""Entry point of ``gpuwatch`` and ``python -m gpuwatch_desktop``."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:  # `gpuwatch alerts | head`: the reader left; stop quietly like other CLI tools
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (interpreter shutdown flushes stdout again)
        return 0


def _run(args: list[str]) -> int:
    if args[:1] == ["snapshot"]:
        from gpuwatch_desktop.services.snapshot_cli import run_snapshot

        return run_snapshot(args[1:])
    if args[:1] == ["alerts"]:
        from gpuwatch_desktop.services.alerts_cli import run_alerts

        return run_alerts(args[1:])
    if args[:1] == ["ask"]:
        from gpuwatch_desktop.services.ask_cli import run_ask

        return run_ask(args[1:])
    if args[:1] == ["pod"]:  # the bundled pod CLI, so a frozen app can start its own demo exporters
        from gpuwatch_pod.__main__ import main as pod_main

        return pod_main(args[1:])
    if args[:1] == ["--keyring-info"]:  # hidden: the packaging test checks the bundle finds keyring's backends
        import json

        from gpuwatch_desktop.config.keyring_info import keyring_report

        print(json.dumps(keyring_report(), indent=2))
        return 0
    from gpuwatch_desktop.cli import parse_app_options

    options = parse_app_options(args)
    from gpuwatch_desktop.ui.launch import run_app  # Qt is imported only when the window is wanted

    return run_app(options)


if __name__ == "__main__":
    sys.exit(main())
