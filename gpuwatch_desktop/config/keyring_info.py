"""Which keyring backends this process finds: the check that a packaged app discovered them like the source one.

keyring finds its backends through entry points, which a frozen app only has if their metadata was bundled.
``gpuwatch --keyring-info`` prints this report as JSON; the packaging test compares the bundle's with the source's.
"""

from __future__ import annotations

import keyring
import keyring.backend


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _known_backends() -> list[type[keyring.backend.KeyringBackend]]:
    found: list[type[keyring.backend.KeyringBackend]] = []
    pending = list(keyring.backend.KeyringBackend.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(set(found), key=_qualified)


def _viability(cls: type[keyring.backend.KeyringBackend]) -> str:
    """The backend's priority, or why it cannot be used here (keyring raises from ``priority``)."""
    try:
        return f"priority {cls.priority}"
    except Exception as exc:  # each backend raises its own kind when it is not usable
        return f"unusable: {type(exc).__name__}: {exc}"


def keyring_report() -> dict[str, object]:
    """The backend ``keyring.get_keyring()`` resolves to, and every known backend with its priority or error."""
    active = keyring.get_keyring()  # loads the entry-point plugins first
    return {
        "active": _qualified(type(active)),
        "backends": {_qualified(cls): _viability(cls) for cls in _known_backends()},
    }
