"""One app per data dir: the first instance holds a lock and listens on a local socket; a second one asks it
to raise its window and exits, so two pollers never write one history database.

The lock (QLockFile, stale when its process is gone) makes the claim atomic; the socket (QLocalServer) carries
the request. Both are named after a hash of the user and the resolved data dir and live in the temp dir.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QDir, QLockFile, QObject, QThread, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)
RAISE_REQUEST = b"raise\n"
RAISED_REPLY = b"raised\n"
HANDOVER_TIMEOUT_S = 5.0
ALREADY_RUNNING = "gpuwatch is already running; raised its window"


def instance_key(data_dir: Path) -> str:
    """The server name for this user and data dir (the same data dir reached by another path gives the same key)."""
    user = str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "")
    digest = hashlib.sha256(f"{user}\0{data_dir.resolve()}".encode()).hexdigest()[:16]
    return f"gpuwatch-{digest}"


@dataclass(frozen=True, slots=True)
class HandedOver:
    """Another instance owns this data dir: what to tell the user and the exit status."""

    message: str
    exit_code: int


class InstanceGuard(QObject):
    """Held by the running instance: owns the lock and answers "raise" requests from later instances."""

    raiseRequested = Signal()

    def __init__(self, key: str, lock: QLockFile) -> None:
        super().__init__()
        self.key = key
        self._lock = lock
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_new_connection)

    def listen(self) -> bool:
        QLocalServer.removeServer(self.key)  # we hold the lock, so a socket left here is a crashed instance's
        if not self._server.listen(self.key):
            log.warning("cannot listen for other instances on %s: %s", self.key, self._server.errorString())
            return False
        log.info("listening for other instances on %s", self._server.fullServerName())
        return True

    def _on_new_connection(self) -> None:
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.readyRead.connect(lambda s=socket: self._on_request_read(s))
            socket.disconnected.connect(socket.deleteLater)

    def _on_request_read(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            return
        if bytes(socket.readLine().data()) == RAISE_REQUEST:
            log.info("raising the window at another instance's request")
            self.raiseRequested.emit()
            socket.write(RAISED_REPLY)
            socket.flush()
        socket.disconnectFromServer()

    def close(self) -> None:
        self._server.close()
        self._lock.unlock()

    def __enter__(self) -> InstanceGuard:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def claim_instance(data_dir: Path) -> InstanceGuard | HandedOver:
    """Become the instance for ``data_dir``, or hand over to the one that already is."""
    key = instance_key(data_dir)
    lock = QLockFile(str(Path(QDir.tempPath()) / f"{key}.lock"))
    lock.setStaleLockTime(0)  # stale only when its process is gone, never by age
    if lock.tryLock(0):
        guard = InstanceGuard(key, lock)
        guard.listen()
        return guard
    if lock.error() is not QLockFile.LockError.LockFailedError:  # cannot even write the lock: run unguarded
        log.warning("cannot lock %s (%s); not checking for another instance", lock.fileName(), lock.error().name)
        guard = InstanceGuard(key, lock)
        guard.listen()
        return guard
    return _hand_over(key, data_dir, lock)


def _hand_over(key: str, data_dir: Path, lock: QLockFile) -> HandedOver:
    """Ask the running instance to raise its window; it may still be starting, so retry until the deadline."""
    socket = QLocalSocket()
    deadline = time.monotonic() + HANDOVER_TIMEOUT_S
    while time.monotonic() < deadline:
        socket.connectToServer(key)
        if socket.waitForConnected(500):
            socket.write(RAISE_REQUEST)
            socket.waitForBytesWritten(1000)
            remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
            while socket.bytesAvailable() < len(RAISED_REPLY) and socket.waitForReadyRead(remaining_ms):
                pass
            if bytes(socket.readAll().data()) == RAISED_REPLY:
                socket.disconnectFromServer()
                return HandedOver(ALREADY_RUNNING, 0)
            break
        QThread.msleep(100)  # the other instance holds the lock but is not listening yet
    socket.abort()
    info = lock.getLockInfo()  # (pid, host, app name)
    pid = info[0] if isinstance(info, tuple) and info else "?"
    return HandedOver(f"gpuwatch is already running for {data_dir} (process {pid}) but did not answer;"
                      " close it or try again once it has started", 1)
