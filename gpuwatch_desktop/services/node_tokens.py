"""Each node's pod access token (keyring ``node-token:<node>``), read off the event loop's thread.

Every pod service of a node (GPU exporter, log server, Slurm exporter) takes the same bearer token. Reads go
through a worker thread (keyring calls may block on D-Bus); a keyring that cannot be read means "no token",
logged once per node and reason rather than on every poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from gpuwatch_desktop.config.secrets import SecretStore, SecretStoreError, node_token_secret_name

log = logging.getLogger(__name__)


class NodeTokens:
    """Reads node tokens from a SecretStore; ``None`` store means no tokens at all (tests, CLIs)."""

    def __init__(self, secrets: SecretStore | None) -> None:
        self._secrets = secrets
        self._reported: set[tuple[str, str]] = set()

    async def read(self, nodes: Iterable[str]) -> dict[str, str | None]:
        """Node -> token (None where there is none or the keyring cannot be read)."""
        names = list(nodes)
        if self._secrets is None or not names:
            return dict.fromkeys(names)
        return await asyncio.to_thread(self._read_blocking, names)

    def _read_blocking(self, names: list[str]) -> dict[str, str | None]:
        assert self._secrets is not None
        tokens: dict[str, str | None] = {}
        for name in names:
            try:
                tokens[name] = self._secrets.get(node_token_secret_name(name))
            except SecretStoreError as exc:
                tokens[name] = None
                if (name, str(exc)) not in self._reported:
                    self._reported.add((name, str(exc)))
                    log.info("node %s: no access token sent (%s)", name, exc)
        return tokens
