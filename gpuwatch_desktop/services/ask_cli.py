"""``gpuwatch ask "QUESTION" [--json]``: the chat dock's agent, from the command line, over the same data.

The configured nodes are polled once (as ``snapshot`` does, through the app's Poller and ClusterState); the
history file, when there is one, answers history and alert questions (opened as the app opens it, never
written to by the agent). The answer streams to stdout and the tool steps go to stderr; with ``--json`` one
JSON object is printed at the end. Exit status: 0 answered, 1 the agent failed, 2 nothing to ask (no model).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from gpuwatch_desktop.agent.client import detect_local_servers, make_client
from gpuwatch_desktop.agent.events import AgentEvent, AgentFailed, AnswerFinished, TextDelta, ToolFinished, ToolStarted
from gpuwatch_desktop.agent.loop import AgentSession
from gpuwatch_desktop.agent.tools import default_tools
from gpuwatch_desktop.cli import ask_parser
from gpuwatch_desktop.config.llm import LLM_API_KEY_SECRET, LlmConfig
from gpuwatch_desktop.config.paths import default_config_path, default_data_dir, history_db_path
from gpuwatch_desktop.config.secrets import SecretStore, SecretStoreError
from gpuwatch_desktop.config.settings import Settings, load_settings
from gpuwatch_desktop.core.errors import ConfigError, StorageError
from gpuwatch_desktop.services.agent_data import AppClusterData
from gpuwatch_desktop.services.history_worker import HistoryWorker
from gpuwatch_desktop.services.logs_service import LogsService
from gpuwatch_desktop.services.node_tokens import NodeTokens
from gpuwatch_desktop.services.poller import Poller
from gpuwatch_desktop.services.slurm_service import SlurmService
from gpuwatch_desktop.services.state import ClusterState
from gpuwatch_desktop.storage import HistoryStore

API_KEY_ENV = "OPENAI_API_KEY"
NOT_CONFIGURED = (
    "gpuwatch ask: no AI model server is configured. Set one in the app (Settings → Model), or pass "
    "--base-url URL --model NAME (for vLLM on the head pod: --base-url http://HOST:8000/v1). The API key is read "
    f"from the system keyring (saved by the app) or the {API_KEY_ENV} environment variable."
)


def api_key(secrets: SecretStore) -> str | None:
    """The LLM key from the keyring; else from $OPENAI_API_KEY; else None (local servers need none)."""
    try:
        key = secrets.get(LLM_API_KEY_SECRET)
    except SecretStoreError:
        key = None
    return key or os.environ.get(API_KEY_ENV) or None


@dataclass
class _Printer:
    """Streams the answer to ``out`` and the steps to ``err``, or keeps them for one JSON object."""

    out: TextIO
    err: TextIO
    as_json: bool
    arguments: dict[str, str] = field(default_factory=dict)  # call id -> raw arguments, in call order
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)  # call id -> step
    streamed: bool = False

    def show(self, event: AgentEvent) -> None:
        if isinstance(event, TextDelta) and not self.as_json:
            self.out.write(event.text)
            self.out.flush()
            self.streamed = True
        elif isinstance(event, ToolStarted):
            self.arguments[event.call_id] = event.arguments
        elif isinstance(event, ToolFinished):
            self.finished[event.call_id] = _step(event, self.arguments.get(event.call_id, ""))
            if not self.as_json:
                mark = "ok" if event.ok else "error"
                cached = ", cached" if event.cached else ""
                print(f"[{event.name} {mark}: {event.summary} ({event.duration_ms:.0f} ms{cached})]", file=self.err)

    def finish(self, last: AgentEvent | None) -> int:
        if self.streamed:
            self.out.write("\n")
        failed = last if isinstance(last, AgentFailed) else None
        if self.as_json:
            answer = last.text if isinstance(last, AnswerFinished) else None
            steps = [self.finished[i] for i in self.arguments if i in self.finished]  # in call order
            report: dict[str, Any] = {"answer": answer, "steps": steps,
                                      "forced": isinstance(last, AnswerFinished) and last.forced}
            if failed is not None:
                report["error"] = {"kind": failed.kind, "message": failed.message}
            print(json.dumps(report, indent=2, ensure_ascii=False), file=self.out)
        if failed is not None:
            print(f"gpuwatch ask: {failed.message}", file=self.err)
            return 1
        return 0


def _step(event: ToolFinished, arguments: str) -> dict[str, Any]:
    try:
        parsed: Any = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        parsed = arguments  # what the model sent, as it sent it
    return {"tool": event.name, "arguments": parsed, "ok": event.ok, "summary": event.summary,
            "duration_ms": round(event.duration_ms, 1), "cached": event.cached}


async def _open_history(data_dir: Path, err: TextIO) -> HistoryWorker | None:
    path = history_db_path(data_dir)
    if not path.is_file():
        return None
    worker = HistoryWorker(lambda: HistoryStore(path))
    try:
        await worker.open()
    except StorageError as exc:
        print(f"gpuwatch ask: history not available ({exc}); answering from live data only", file=err)
        await worker.close()
        return None
    return worker


async def ask(question: str, settings: Settings, llm: LlmConfig, key: str | None, data_dir: Path,
              printer: _Printer, secrets: SecretStore | None = None) -> int:
    """Poll once, open the history, run the agent, print; the exit status."""
    state = ClusterState()
    poller = Poller(state, None, interval_s=settings.poll_interval_s, timeout_s=settings.scrape_timeout_s,
                    tokens=NodeTokens(secrets))
    slurm, logs = SlurmService(secrets), LogsService(secrets)
    history: HistoryWorker | None = None
    client = make_client(llm, key)
    try:
        await poller.set_nodes(settings.nodes)
        await asyncio.gather(poller.poll_round(), slurm.set_nodes(settings.nodes), logs.set_nodes(settings.nodes))
        history = await _open_history(data_dir, printer.err)
        if history is not None:
            state.set_alerts(await history.run(lambda s: s.alerts().active()))
        data = AppClusterData(state, history, slurm=slurm if slurm.connected() else None,
                              logs=logs if logs.nodes() else None)
        session = AgentSession(client, llm, default_tools(), data)
        last: AgentEvent | None = None
        async for event in session.run([], question):
            printer.show(event)
            last = event
        return printer.finish(last)
    finally:
        await client.close()
        await asyncio.gather(poller.aclose(), slurm.aclose(), logs.aclose())
        if history is not None:
            await history.close()


async def _local_hint() -> str:
    found = await detect_local_servers(0.3)
    return "".join(f"\nFound {name} at {url} with models: {', '.join(models) or 'none'} "
                   f"(--base-url {url} --model NAME)." for name, url, models in found)


def run_ask(argv: list[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr,
            secrets: SecretStore | None = None) -> int:
    args = ask_parser().parse_args(argv)
    try:
        settings = load_settings(args.config or default_config_path())
        llm = replace(settings.llm, base_url=args.base_url or settings.llm.base_url,
                      model=args.model or settings.llm.model)
        llm.validate()
    except ConfigError as exc:
        print(f"gpuwatch ask: {exc}", file=err)
        return 2
    if not llm.configured:
        print(NOT_CONFIGURED + asyncio.run(_local_hint()), file=err)
        return 2
    secrets = secrets or SecretStore()
    key = api_key(secrets)
    printer = _Printer(out, err, args.json)
    return asyncio.run(ask(args.question, settings, llm, key, args.data_dir or default_data_dir(), printer,
                           secrets))
