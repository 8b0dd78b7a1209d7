"""Collecting from the real Slurm commands, and sharing collections between scrapes.

:class:`SlurmCommands` runs sinfo and squeue one after the other (``--json`` when this Slurm has it,
found out once; text otherwise), each with a timeout after which its whole process group is killed.
A failure gives the last good lists with a clear ``error`` and counts against the command.
:class:`SharedCollection` puts any :class:`SlurmSource` behind a rate limit: at most one collection per
``min_interval_s``, and scrapes that arrive while one runs wait for it instead of starting another.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import Literal

from gpuwatch_pod.slurm_model import SlurmJob, SlurmNode, SlurmPartition, SlurmSnapshot, SlurmSource
from gpuwatch_pod.slurm_parse import (
    SINFO_NODE_FIELDS,
    SINFO_PARTITION_FORMAT,
    SQUEUE_FIELDS,
    SlurmParseError,
    SlurmReportedError,
    format_fields,
    parse_partitions_text,
    parse_sinfo_json,
    parse_sinfo_text,
    parse_squeue_json,
    parse_squeue_text,
)

log = logging.getLogger(__name__)

Mode = Literal["auto", "json", "text"]
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MIN_INTERVAL_S = 10.0
# The arguments of each command we run (after "sinfo" or "squeue"). squeue --json reports jobs in every
# state slurmctld still remembers (finished ones for MinJobAge), so the text form asks for all states too.
SINFO_JSON_ARGS = ("-N", "--json")
SINFO_PARTITION_ARGS = ("-h", "-o", SINFO_PARTITION_FORMAT)
SINFO_TEXT_ARGS = ("-N", "-h", "-O", format_fields(SINFO_NODE_FIELDS))
SQUEUE_JSON_ARGS = ("--json",)
SQUEUE_TEXT_ARGS = ("-h", "-t", "all", "-O", format_fields(SQUEUE_FIELDS))
_NO_JSON = re.compile(r"unrecognized option|invalid option|unknown option|serializer|data_parser|json", re.I)
_MAX_DETAIL = 300


class SlurmCommandError(Exception):
    """A Slurm command failed, hung or printed something unreadable; ``message`` says which and why."""

    def __init__(self, command: str, message: str, no_json: bool = False) -> None:
        super().__init__(message)
        self.command = command
        self.message = message
        self.no_json = no_json  # the failure says this Slurm has no --json


def _detail(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    text = " / ".join(lines[-3:]) or "no message"
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def run_command(argv: list[str], timeout_s: float, env: Mapping[str, str] | None = None) -> str:
    """Run one command and return its stdout; SlurmCommandError when it cannot start, fails or times out.

    The command runs in its own session so a timeout kills it and everything it started.
    """
    name = os.path.basename(argv[0])
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=None if env is None else dict(env), start_new_session=True)
    except FileNotFoundError as exc:
        raise SlurmCommandError(name, f"{name} not found ({argv[0]}): is the Slurm client installed and on PATH?") \
            from exc
    except OSError as exc:
        raise SlurmCommandError(name, f"{name} could not be started: {exc}") from exc
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise SlurmCommandError(name, f"{name} timed out after {timeout_s:g} s") from None
    if proc.returncode != 0:
        detail = _detail(err)
        raise SlurmCommandError(name, f"{name} failed (exit {proc.returncode}): {detail}",
                                no_json="--json" in argv and bool(_NO_JSON.search(detail)))
    return out.decode("utf-8", "replace")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # a grandchild in its own session still holds the pipes
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        proc.wait()


class SlurmCommands:
    """A :class:`SlurmSource` over the real ``sinfo`` and ``squeue``.

    ``mode`` "auto" tries ``--json`` first and keeps to whichever works; ``env`` is added to the
    commands' environment (e.g. ``SLURM_CONF``). Not thread-safe: put it behind a SharedCollection.
    """

    def __init__(
        self,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        mode: Mode = "auto",
        env: Mapping[str, str] | None = None,
        sinfo: str = "sinfo",
        squeue: str = "squeue",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("the Slurm command timeout must be positive")
        self.timeout_s = timeout_s
        self._mode: Mode = mode
        self._env = {**os.environ, "SLURM_TIME_FORMAT": "standard", **(env or {})}
        self._sinfo, self._squeue = sinfo, squeue
        self._clock = clock
        self._errors = {"sinfo": 0, "squeue": 0}
        self._last_good: SlurmSnapshot | None = None

    @property
    def mode(self) -> Mode:
        """"json" or "text" once known; "auto" until the first successful collection."""
        return self._mode

    def collect(self) -> SlurmSnapshot:
        started, t0 = self._clock(), time.monotonic()
        try:
            nodes, partitions, jobs = self._collect_all()
        except SlurmCommandError as exc:
            self._errors[exc.command if exc.command in self._errors else "sinfo"] += 1
            return self._failed(exc.message, started, time.monotonic() - t0)
        snapshot = SlurmSnapshot(started, nodes, partitions, jobs, duration_s=time.monotonic() - t0,
                                 collect_errors=self._error_counts())
        self._last_good = snapshot
        return snapshot

    def _error_counts(self) -> tuple[tuple[str, int], ...]:
        return tuple(self._errors.items())

    def _failed(self, message: str, started: float, duration: float) -> SlurmSnapshot:
        if self._last_good is None:
            return SlurmSnapshot(started, error=message, duration_s=duration, collect_errors=self._error_counts(),
                                 has_data=False)
        return replace(self._last_good, error=message, duration_s=duration, collect_errors=self._error_counts())

    def _collect_all(self) -> tuple[tuple[SlurmNode, ...], tuple[SlurmPartition, ...], tuple[SlurmJob, ...]]:
        if self._mode != "text":
            try:
                result = self._collect_json()
            except SlurmCommandError as exc:
                if self._mode == "json" or not exc.no_json:
                    raise
                log.warning("%s; reading Slurm's text output instead", exc.message)
                self._mode = "text"
            else:
                self._mode = "json"
                return result
        return self._collect_text()

    def _run(self, argv: list[str]) -> str:
        return run_command(argv, self.timeout_s, self._env)

    def _collect_json(self) -> tuple[tuple[SlurmNode, ...], tuple[SlurmPartition, ...], tuple[SlurmJob, ...]]:
        nodes = self._parsed("sinfo", parse_sinfo_json, self._run([self._sinfo, *SINFO_JSON_ARGS]), json_out=True)
        partitions = self._parsed("sinfo", parse_partitions_text, self._run([self._sinfo, *SINFO_PARTITION_ARGS]))
        jobs = self._parsed("squeue", parse_squeue_json, self._run([self._squeue, *SQUEUE_JSON_ARGS]), json_out=True)
        return nodes, partitions, jobs

    def _collect_text(self) -> tuple[tuple[SlurmNode, ...], tuple[SlurmPartition, ...], tuple[SlurmJob, ...]]:
        nodes, partitions = self._parsed("sinfo", parse_sinfo_text, self._run([self._sinfo, *SINFO_TEXT_ARGS]))
        jobs = self._parsed("squeue", parse_squeue_text, self._run([self._squeue, *SQUEUE_TEXT_ARGS]))
        return nodes, partitions, jobs

    def _parsed[T](self, command: str, parse: Callable[[str], T], output: str, json_out: bool = False) -> T:
        try:
            return parse(output)
        except SlurmReportedError as exc:  # e.g. sinfo --json exits 0 with "Unspecified error" when slurmctld is down
            raise SlurmCommandError(command, f"{exc}; is slurmctld up and reachable? (try: scontrol ping)") from exc
        except SlurmParseError as exc:
            # Output that is not JSON at all from a --json run: this Slurm prints something else there.
            no_json = json_out and not output.lstrip().startswith("{")
            raise SlurmCommandError(command, f"{command} gave output we could not read: {exc}", no_json) from exc


class SharedCollection:
    """Rate-limits a source: one collection per ``min_interval_s`` at most, and never two at once: a
    caller that arrives while one runs waits for it and shares its snapshot.

    A source that raises is reported as an error snapshot (with the source's last lists when it has
    given any), so a bug in one collection never takes the exporter down.
    """

    def __init__(
        self, source: SlurmSource, min_interval_s: float = DEFAULT_MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min_interval_s < 0:
            raise ValueError("the minimum interval between collections cannot be negative")
        self.source = source
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._cond = threading.Condition()
        self._latest: SlurmSnapshot | None = None
        self._attempted = 0.0
        self._in_flight = False
        self._finished = 0  # collections finished so far

    def get(self) -> SlurmSnapshot:
        """The snapshot of the collection in flight when there is one (waiting for it), else the latest
        while it is younger than ``min_interval_s``, else a new one."""
        with self._cond:
            while True:
                if self._in_flight:
                    self._cond.wait_for(partial(self._finished_since, self._finished))
                    if self._latest is not None:
                        return self._latest
                elif self._latest is not None and self._clock() - self._attempted < self.min_interval_s:
                    return self._latest
                else:
                    break
            self._attempted = self._clock()
            self._in_flight = True
        snapshot: SlurmSnapshot | None = None
        try:
            snapshot = self._collect()
            return snapshot
        finally:
            with self._cond:
                if snapshot is not None:
                    self._latest = snapshot
                self._finished += 1
                self._in_flight = False
                self._cond.notify_all()

    def _finished_since(self, count: int) -> bool:
        return self._finished > count

    def _collect(self) -> SlurmSnapshot:
        try:
            return self.source.collect()
        except Exception as exc:  # a source bug must not kill the exporter; say what happened
            log.exception("Slurm collection failed")
            message = f"collecting from Slurm failed: {type(exc).__name__}: {exc}"
            previous = self._latest
            if previous is None or not previous.has_data:
                return SlurmSnapshot(time.time(), error=message, has_data=False)
            return replace(previous, error=message)
