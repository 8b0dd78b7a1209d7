"""Drives the Logs tab from ``LogsService``: node and log lists, following the selected log, the vLLM badge.

Wiring, in the composition root once the service exists::

    view = LogsView(theme)
    window.add_view(view, "Logs")
    controller = LogsController(service, view, parent=app_controller)
    ...
    await controller.aclose()  # at shutdown, before service.aclose()

One follow runs at a time (a named task, cancelled when the selection changes). Lines are handed to
the view in batches (at most every ``FLUSH_MS``), so a burst of thousands of lines is one repaint.
"""

from __future__ import annotations

import asyncio
import contextlib

import qasync
from PySide6.QtCore import QObject, QTimer

from gpuwatch_desktop.services.logs_service import LogsService, VllmWatch
from gpuwatch_desktop.sources.pod_logs import FollowStatus, LogServerError, PodLogClient
from gpuwatch_desktop.ui.logs_view import MAX_LINES, LogsView

BACKLOG = 2000  # lines shown from before following starts
FLUSH_MS = 50


class LogsController(QObject):
    def __init__(self, service: LogsService, view: LogsView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._service = service
        self._view = view
        self._task: asyncio.Task[None] | None = None
        self._ending: set[asyncio.Task[None]] = set()  # cancelled follows still unwinding
        self._following: tuple[str, str, PodLogClient] | None = None
        self._pending: list[str] = []
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(FLUSH_MS)
        self._flush.timeout.connect(self._on_flush_timer)
        view.nodeSelected.connect(self._on_node_selected)
        view.logSelected.connect(self._on_log_selected)
        service.changed_listeners.append(self._on_service_changed)
        service.state_listeners.append(self._on_vllm_changed)
        self._on_service_changed()

    @property
    def following(self) -> tuple[str, str] | None:
        """(node, log) being followed."""
        return self._following[:2] if self._following and self._task and not self._task.done() else None

    def _on_service_changed(self) -> None:
        """Nodes or log names changed (or the settings did): show them and follow the selection."""
        self._view.set_nodes(self._service.nodes(), selected=self._service.head)
        node = self._view.selected()[0]
        if node:
            self._show_logs(node)
        else:
            self._stop()
        self._on_vllm_changed(None)

    def _show_logs(self, node: str) -> None:
        names = self._service.log_names(node)
        self._view.set_logs(names)
        problem = self._service.problems.get(node, "")
        if not names:
            self._stop()
            self._view.show_error(problem)
            self._view.show_status("" if problem else f"Asking {node} for its logs…")
            return
        self._follow_selected()

    @qasync.asyncSlot(str)
    async def _on_node_selected(self, node: str) -> None:
        self._show_logs(node)
        self._on_vllm_changed(None)
        if self._service.log_names(node) or node not in self._service.nodes():
            return
        try:  # not listed yet (or its server did not answer): ask now
            await self._service.list_logs(node)
        except LogServerError as exc:
            if self._view.selected()[0] == node:
                self._view.show_error(exc.reason)
                self._view.show_status("")

    def _on_log_selected(self, _node: str, _name: str) -> None:
        self._follow_selected()

    def _follow_selected(self) -> None:
        node, name = self._view.selected()
        try:
            client = self._service.client(node) if node and name else None
        except LogServerError:
            client = None
        if client is None:
            self._stop()
            return
        if self._following == (node, name, client) and self._task is not None and not self._task.done():
            return
        self._stop()
        self._following = (node, name, client)
        self._view.clear_lines()
        self._view.show_error("")
        self._view.show_status(f"Connecting to {node}…")
        self._task = asyncio.get_running_loop().create_task(self._follow(node, name), name=f"logs:{node}/{name}")

    async def _follow(self, node: str, name: str) -> None:
        try:
            async for line in self._service.follow(node, name, BACKLOG, self._on_follow_status):
                self._pending.append(line)
                if len(self._pending) > 2 * MAX_LINES:
                    del self._pending[:-MAX_LINES]
                if not self._flush.isActive():
                    self._flush.start()
            self._view.show_status(f"Stopped following {name}: the node's log server settings changed")
        except LogServerError as exc:  # 401 or no such log: retrying will not help
            self._on_flush_timer()
            self._view.show_error(exc.reason)
            self._view.show_status(f"Not following {name} on {node}")

    def _on_follow_status(self, status: FollowStatus) -> None:
        node, name = self._following[:2] if self._following else ("", "")
        if status.connected:
            note = " — lines written while disconnected may be missing above" if status.gap else ""
            self._view.show_status(f"Following {name} on {node}{note}")
        else:
            self._view.show_status(f"Reconnecting to {node} in {status.retry_in_s:.0f} s — {status.message}")

    def _on_flush_timer(self) -> None:
        lines, self._pending = self._pending, []
        self._view.append_lines(lines)

    def _on_vllm_changed(self, _watch: VllmWatch | None) -> None:
        watch = self._service.vllm_state(self._view.selected()[0] or None)
        problems = self._service.problems
        unknown = "; ".join(f"{node}: {problem}" for node, problem in problems.items()) if watch is None else ""
        self._view.show_vllm(watch, unknown)

    def _stop(self) -> None:
        """End the follow (if any) and drop its unshown lines."""
        if self._task is not None:
            self._task.cancel()
            self._ending.add(self._task)
            self._task.add_done_callback(self._ending.discard)
        self._task, self._following = None, None
        self._pending = []
        self._flush.stop()

    async def aclose(self) -> None:
        """Stop following and stop listening to the service."""
        self._stop()
        await asyncio.gather(*self._ending, return_exceptions=True)
        with contextlib.suppress(ValueError):
            self._service.changed_listeners.remove(self._on_service_changed)
        with contextlib.suppress(ValueError):
            self._service.state_listeners.remove(self._on_vllm_changed)
