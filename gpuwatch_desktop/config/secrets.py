"""Secrets (webhook URLs, SMTP passwords, node tokens) in the OS keyring, never in settings files or logs.

Keyring calls can block: the Secret Service backend talks D-Bus and may show an unlock prompt. Callers on the
GUI thread must run every ``SecretStore`` method in a worker thread (``await asyncio.to_thread(store.get, name)``).

Names in use: ``webhook:<channel name>``, ``smtp:<channel name>``, ``node-token:<node>``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import keyring
import keyring.backend
from keyring.backends import chainer, fail, null

from gpuwatch_desktop.core.errors import GpuwatchError

REDACTED = "***"

_INSTALL_HINT = {
    "linux": "install and unlock gnome-keyring or KWallet (any Secret Service provider), "
    "or `pip install keyrings.alt` for an unencrypted file store",
    "darwin": "the macOS Keychain should be present; check that the login keychain is unlocked",
    "win32": "the Windows Credential Manager should be present; check that it is running",
}


class SecretStoreError(GpuwatchError):
    """The keyring could not read, write or delete a secret. The message never contains the secret."""


def webhook_secret_name(channel: str) -> str:
    return f"webhook:{channel}"


def smtp_secret_name(channel: str) -> str:
    return f"smtp:{channel}"


def node_token_secret_name(node: str) -> str:
    return f"node-token:{node}"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every non-empty secret replaced by ``***`` (longest first, so overlapping ones go whole)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class SecretStore:
    """Get, set and delete named secrets of one keyring service. Blocking: call from a worker thread."""

    def __init__(self, service: str = "gpuwatch", backend: keyring.backend.KeyringBackend | None = None) -> None:
        self.service = service
        self._backend = backend

    def _keyring(self) -> keyring.backend.KeyringBackend:
        if self._backend is None:
            try:
                self._backend = keyring.get_keyring()
            except Exception as exc:  # a broken keyring config file or backend plug-in
                raise SecretStoreError(f"cannot open the system keyring: {type(exc).__name__}: {exc}") from exc
        return self._backend

    def available(self) -> tuple[bool, str]:
        """Whether a usable OS keyring exists; if not, why and what to install."""
        try:
            backend = self._keyring()
        except SecretStoreError as exc:
            return False, str(exc)
        if _is_unusable(backend):
            return False, _no_keyring_reason()
        return True, f"secrets are kept in {type(backend).__module__}.{type(backend).__name__}"

    def get(self, name: str) -> str | None:
        """The secret stored under ``name``, or None when there is none."""
        backend = self._checked_keyring("read", name)
        try:
            return backend.get_password(self.service, name)
        except Exception as exc:
            raise self._error("read", name, exc) from None

    def set(self, name: str, value: str) -> None:
        if not value:
            raise SecretStoreError(f"cannot store an empty secret for {name!r}; delete it instead")
        backend = self._checked_keyring("store", name)
        try:
            backend.set_password(self.service, name, value)
        except Exception as exc:
            raise self._error("store", name, exc, value) from None

    def delete(self, name: str) -> None:
        """Remove the secret; removing one that does not exist is not an error."""
        if self.get(name) is None:
            return
        try:
            self._keyring().delete_password(self.service, name)
        except Exception as exc:
            raise self._error("delete", name, exc) from None

    def _checked_keyring(self, verb: str, name: str) -> keyring.backend.KeyringBackend:
        backend = self._keyring()
        if _is_unusable(backend):
            raise SecretStoreError(f"cannot {verb} secret {name!r}: {_no_keyring_reason()}")
        return backend

    def _error(self, verb: str, name: str, exc: Exception, value: str | None = None) -> SecretStoreError:
        # ``from None`` at the raise sites keeps the backend's traceback (which may hold the value) out of logs.
        reason = redact(str(exc), [value]) or "no reason given"
        return SecretStoreError(f"cannot {verb} secret {name!r} in the system keyring: {type(exc).__name__}: {reason}")


def _is_unusable(backend: keyring.backend.KeyringBackend) -> bool:
    if isinstance(backend, fail.Keyring | null.Keyring):
        return True
    return isinstance(backend, chainer.ChainerBackend) and not backend.backends


def _no_keyring_reason() -> str:
    hint = _INSTALL_HINT.get(sys.platform, _INSTALL_HINT["linux"])
    return f"no system keyring found ({hint})"
