"""Terraform (or OpenTofu) as an asyncio subprocess: its -json messages become Progress; one run per work dir.

Secrets reach Terraform only through the subprocess environment. Cancel sends an interrupt (Terraform then lets the
resource in flight finish, writes its state and releases its lock); a second interrupt and a kill come only after
long grace periods, because they can lose state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuwatch_desktop.config.secrets import redact
from gpuwatch_desktop.provisioning.messages import Diagnostic, MessageParser
from gpuwatch_desktop.provisioning.model import PlannedChange, Progress, ProvisioningError

STATE_FILE = "terraform.tfstate"
STATE_LOCK_INFO = ".terraform.tfstate.lock.info"
RUN_LOCK_FILE = ".gpuwatch-run.lock"
_LINE_LIMIT = 16 * 1024 * 1024  # `outputs` messages can be long
_INSTALL_HINTS = {
    "linux": "install Terraform (https://developer.hashicorp.com/terraform/install, e.g. from HashiCorp's apt "
    "repository: sudo apt install terraform) or OpenTofu (https://opentofu.org/docs/intro/install/, e.g. "
    "sudo snap install --classic opentofu)",
    "darwin": "install Terraform (brew install hashicorp/tap/terraform) or OpenTofu (brew install opentofu)",
    "win32": "install Terraform (winget install Hashicorp.Terraform) or OpenTofu (winget install OpenTofu.Tofu)",
}
# Inherited variables that would change what Terraform does behind the app's back.
_DROPPED_ENV_PREFIXES = ("TF_VAR_", "TF_CLI_ARGS", "TF_WORKSPACE", "RUNPOD_API_KEY")


def find_terraform(explicit: str | None = None) -> str:
    """The path of terraform (or tofu): ``explicit`` when given, else the first on PATH."""
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            raise ProvisioningError(f"Terraform program {explicit!r} was not found or is not executable")
        return found
    for name in ("terraform", "tofu"):
        found = shutil.which(name)
        if found:
            return found
    hint = _INSTALL_HINTS.get(sys.platform, _INSTALL_HINTS["linux"])
    raise ProvisioningError(f"Neither terraform nor tofu was found on PATH: {hint}, then try again.")


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How one Terraform command ended."""

    returncode: int
    cancelled: bool
    changes: tuple[PlannedChange, ...]
    counts: Mapping[str, int]  # add / change / remove of the last change summary ({} if none)
    diagnostics: tuple[Diagnostic, ...]
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.cancelled

    def error_text(self) -> str:
        """The errors Terraform reported, one per line (its stderr when it reported none)."""
        errors = [d.text() for d in self.diagnostics if d.severity == "error"]
        if errors:
            return "\n".join(dict.fromkeys(errors))
        return self.stderr.strip()[-2000:] or f"terraform exited with status {self.returncode}"


class TerraformRunner:
    """Runs one Terraform command at a time in ``workdir``; ``exclusive()`` also keeps other app instances out."""

    def __init__(self, binary: str, workdir: Path, *, interrupt_grace_s: float = 600.0, kill_grace_s: float = 60.0):
        self.binary = binary
        self.workdir = workdir
        self._interrupt_grace_s = interrupt_grace_s
        self._kill_grace_s = kill_grace_s
        self._lock = asyncio.Lock()
        self._proc: asyncio.subprocess.Process | None = None
        self._cancel_requested = False  # for the rest of the current exclusive() sequence
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the work dir for a sequence of runs; ProvisioningError at once when someone else holds it."""
        if self._lock.locked():
            raise ProvisioningError(f"a Terraform run is already going on in {self.workdir}; wait for it or cancel it")
        async with self._lock:
            self._cancel_requested = False
            await asyncio.to_thread(self.workdir.mkdir, parents=True, exist_ok=True)
            handle = await asyncio.to_thread(_lock_file, self.workdir / RUN_LOCK_FILE)
            try:
                yield
            finally:
                await asyncio.to_thread(_unlock_file, handle)
                self._cancel_requested = False

    async def run(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        on_progress: Callable[[Progress], None],
        *,
        total: int = 0,
        secrets: Sequence[str] = (),
    ) -> RunOutcome:
        """Run ``terraform <args>`` (with -json among them) and report its messages. Call inside ``exclusive()``."""
        if not self._lock.locked():
            raise RuntimeError("TerraformRunner.run must be called inside exclusive()")
        parser = MessageParser(total=total, secrets=secrets)
        if self._cancel_requested:  # cancelled between two commands: the next one does not start
            return RunOutcome(returncode=1, cancelled=True, changes=(), counts={}, diagnostics=(), stderr="")
        self._idle.clear()
        try:
            proc = await self._start(args, env)
            self._proc = proc
            if self._cancel_requested:  # cancelled while it was starting
                _interrupt(proc)
            try:
                stderr = await self._pump(proc, parser, on_progress)
            except BaseException:  # our task was cancelled or a callback failed: never leave Terraform running
                await asyncio.shield(self._stop(proc))
                raise
            returncode = await proc.wait()
        finally:
            self._proc = None
            self._idle.set()
        return RunOutcome(
            returncode=returncode,
            cancelled=self._cancel_requested and returncode != 0,  # an interrupt after the end changes nothing
            changes=parser.changes,
            counts=parser.counts,
            diagnostics=parser.diagnostics,
            stderr=redact(stderr, secrets),
        )

    async def read_json(self, args: Sequence[str], env: Mapping[str, str], timeout_s: float = 120.0) -> Any:
        """Run a read-only command (``output -json``, ``show -json``) and return its parsed stdout."""
        proc = await self._start(args, env)
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ProvisioningError(f"terraform {' '.join(args)} gave no answer in {timeout_s:.0f} s") from None
        text = stdout.decode("utf-8", "replace")
        if proc.returncode != 0:
            problem = _first_error(text) or stderr.decode("utf-8", "replace").strip()[-1000:]
            raise ProvisioningError(f"terraform {args[0]} failed: {problem or f'exit status {proc.returncode}'}")
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ProvisioningError(f"terraform {args[0]} did not print JSON: {text.strip()[:200]!r}") from None

    async def cancel(self) -> bool:
        """Interrupt the running command (no further command of this sequence starts) and wait until it has
        exited, so its state is written and its lock released. False when nothing was running."""
        if not self.busy:
            return False
        self._cancel_requested = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            await self._stop(proc)
        await self._idle.wait()
        return True

    def state_lock_left(self) -> bool:
        """Whether Terraform's lock note was left behind (it was stopped hard). Harmless to the local backend."""
        return (self.workdir / STATE_LOCK_INFO).exists()

    async def _start(self, args: Sequence[str], env: Mapping[str, str]) -> asyncio.subprocess.Process:
        kwargs: dict[str, Any] = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
        else:
            kwargs["start_new_session"] = True  # a Ctrl-C in our terminal must not interrupt Terraform twice
        try:
            return await asyncio.create_subprocess_exec(
                self.binary, *args,
                cwd=self.workdir, env=_child_env(env), limit=_LINE_LIMIT,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                **kwargs,
            )  # fmt: skip
        except OSError as exc:
            raise ProvisioningError(f"cannot start {self.binary}: {exc.strerror or exc}") from None

    async def _pump(self, proc: asyncio.subprocess.Process, parser: MessageParser,
                    on_progress: Callable[[Progress], None]) -> str:
        assert proc.stdout is not None and proc.stderr is not None
        errors = asyncio.create_task(proc.stderr.read(), name="terraform-stderr")
        try:
            while line := await proc.stdout.readline():
                progress = parser.feed(line.decode("utf-8", "replace"))
                if progress is not None:
                    on_progress(progress)
        except BaseException:
            errors.cancel()  # its end of file only comes when Terraform exits
            await asyncio.gather(errors, return_exceptions=True)
            raise
        return (await errors).decode("utf-8", "replace")

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        """Interrupt; after the grace period interrupt again (Terraform exits at once); after another, kill."""
        for step, grace in ((_interrupt, self._interrupt_grace_s), (_interrupt, self._kill_grace_s)):
            if proc.returncode is not None:
                return
            step(proc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), grace)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _interrupt(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.CTRL_BREAK_EVENT if sys.platform == "win32" else signal.SIGINT)  # type: ignore[attr-defined]


def _child_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV_PREFIXES)}
    env.update(TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1")
    env.update(extra)
    return env


def _first_error(text: str) -> str:
    for line in text.splitlines():
        with contextlib.suppress(ValueError, AttributeError):
            message = json.loads(line)
            if message.get("type") == "diagnostic" and message["diagnostic"].get("severity") == "error":
                return str(message["diagnostic"].get("summary", ""))
    return ""


def _lock_file(path: Path) -> int:
    """Take an exclusive lock on ``path`` (also against other processes); ProvisioningError when it is held."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise ProvisioningError(
            f"another gpuwatch window is running Terraform in {path.parent}; wait for it to finish or cancel it there"
        ) from None
    return fd


def _unlock_file(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    os.close(fd)  # closing drops a flock
