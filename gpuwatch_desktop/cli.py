"""Command-line parsing for ``gpuwatch`` (no Qt here: `snapshot` must start fast and work headless)."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from gpuwatch_desktop import __version__


@dataclass(frozen=True, slots=True)
class AppOptions:
    demo: bool
    demo_nodes: int
    demo_scenarios: tuple[str, ...]
    config_path: Path | None
    data_dir: Path | None
    screenshot: Path | None
    exit_after_s: float | None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be above 0")
    return value


_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> float:
    """'90', '90s', '30m', '24h', '7d' -> seconds (above 0)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd]?)", text.strip().lower())
    if match is None or float(match[1]) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 30m, 24h or 7d")
    return float(match[1]) * _DURATION_UNITS[match[2]]


def app_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gpuwatch",
        description="GPU Watchdog Desktop. Subcommands: `gpuwatch snapshot URL... [--json]` prints one scrape;"
        " `gpuwatch alerts [--json]` prints active alerts and recent alert events;"
        " `gpuwatch ask \"QUESTION\" [--json]` asks the AI diagnostic agent.",
    )
    parser.add_argument("--version", action="version", version=f"gpuwatch {__version__}")
    parser.add_argument("--demo", action="store_true", help="watch a built-in simulated cluster")
    parser.add_argument("--demo-nodes", type=_positive_int, default=2, metavar="N", help="demo nodes (default 2)")
    parser.add_argument(
        "--demo-scenario", action="append", default=[], metavar="NAME[@NODE]",
        help="fault scenario for the demo: overheat, xid, idle, memory-leak, node-down, garbage (repeatable)",
    )
    parser.add_argument("--config", type=Path, metavar="PATH", help="settings file (default: user config dir)")
    parser.add_argument("--data-dir", type=Path, metavar="PATH", help="where history is kept (default: user data dir)")
    parser.add_argument("--screenshot", type=Path, metavar="FILE", help="save the main window as PNG before exiting")
    parser.add_argument(
        "--exit-after", type=_positive_float, metavar="SECONDS", help="quit after this many seconds"
    )
    return parser


def parse_app_options(argv: list[str]) -> AppOptions:
    parser = app_parser()
    args = parser.parse_args(argv)
    if args.screenshot and args.exit_after is None:
        parser.error("--screenshot needs --exit-after SECONDS")
    return AppOptions(
        demo=args.demo,
        demo_nodes=args.demo_nodes,
        demo_scenarios=tuple(args.demo_scenario),
        config_path=args.config,
        data_dir=args.data_dir,
        screenshot=args.screenshot,
        exit_after_s=args.exit_after,
    )


def snapshot_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gpuwatch snapshot", description="Scrape GPU exporters once and print every GPU (like nvitop -1)."
    )
    parser.add_argument("urls", nargs="+", metavar="URL", help="exporter metrics URL, e.g. http://host:9400/metrics")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--timeout", type=_positive_float, default=5.0, metavar="SECONDS")
    return parser


def alerts_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gpuwatch alerts", description="Print the active alerts and the recent alert events from the history."
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--data-dir", type=Path, metavar="PATH", help="where history is kept (default: user data dir)")
    parser.add_argument(
        "--limit", type=_positive_int, default=50, metavar="N", help="show at most this many events (default 50)"
    )
    parser.add_argument(
        "--since", type=_duration, default="24h", metavar="DURATION",
        help="events of this last period: 90s, 30m, 24h, 7d (default 24h)",
    )
    return parser


def ask_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gpuwatch ask",
        description="Ask the AI diagnostic agent about the cluster: it polls the configured nodes once, reads the"
        " history and alerts, calls its read-only tools and prints the answer as it streams.",
        epilog="The model server comes from the settings (Settings → Model) unless --base-url and --model are"
        " given. The API key is read from the system keyring, where the app saves it; if there is none there,"
        " from the OPENAI_API_KEY environment variable. Local servers (vLLM, Ollama, LM Studio) need none.",
    )
    parser.add_argument("question", help="what to ask, e.g. \"What's wrong with the cluster?\"")
    parser.add_argument("--json", action="store_true", help="print the answer and the tool steps as JSON at the end")
    parser.add_argument("--config", type=Path, metavar="PATH", help="settings file (default: user config dir)")
    parser.add_argument("--data-dir", type=Path, metavar="PATH", help="where history is kept (default: user data dir)")
    parser.add_argument("--base-url", metavar="URL", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--model", metavar="NAME", help="model name on that server")
    return parser
