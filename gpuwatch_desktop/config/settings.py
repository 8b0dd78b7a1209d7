"""Typed settings stored as JSON in the user config dir. Secrets never go here (see SecretStore)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gpuwatch_desktop.config.channels import ChannelConfig, channel_from_dict, channel_to_dict
from gpuwatch_desktop.config.llm import LlmConfig
from gpuwatch_desktop.core.errors import ConfigError


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """One watched pod or host. Its services share one access token, kept as ``node-token:<name>``."""

    name: str
    url: str  # the exporter's metrics URL, e.g. http://10.0.0.5:9400/metrics
    logs_url: str = ""  # the pod log server's base URL, e.g. http://10.0.0.5:8002 ("" = none)
    slurm_url: str = ""  # the Slurm exporter's base URL on the head, e.g. http://10.0.0.5:9341 ("" = none)

    def validate(self) -> None:
        if not self.name.strip():
            raise ConfigError("a node needs a name")
        if not _is_http_url(self.url):
            raise ConfigError(f"node {self.name!r}: {self.url!r} is not an http(s) URL")
        for label, url in (("log server", self.logs_url), ("Slurm exporter", self.slurm_url)):
            if url and not _is_http_url(url):
                raise ConfigError(f"node {self.name!r}: {label} {url!r} is not an http(s) URL")


@dataclass(frozen=True, slots=True)
class Settings:
    nodes: tuple[NodeConfig, ...] = ()
    poll_interval_s: float = 2.0
    scrape_timeout_s: float = 1.5  # per node, below the interval so rounds never pile up
    raw_retention_h: float = 48.0
    rollup_retention_d: float = 90.0
    theme: str = "dark"
    close_to_tray: bool = True  # closing the window keeps the app watching from the system tray
    channels: tuple[ChannelConfig, ...] = ()  # outside notification channels (secrets in the keyring)
    llm: LlmConfig = field(default_factory=LlmConfig)  # the agent's model server (API key in the keyring)
    extra: dict[str, Any] = field(default_factory=dict)  # keys written by newer versions, kept as they were

    def validate(self) -> None:
        names = [n.name for n in self.nodes]
        for node in self.nodes:
            node.validate()
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"node names must be unique: {', '.join(duplicates)}")
        if not 0.1 <= self.poll_interval_s <= 3600:
            raise ConfigError("poll interval must be between 0.1 s and 1 h")
        if not 0 < self.scrape_timeout_s < self.poll_interval_s:
            raise ConfigError("scrape timeout must be above 0 and below the poll interval")
        if self.raw_retention_h <= 0 or self.rollup_retention_d <= 0:
            raise ConfigError("history retention (raw_retention_h, rollup_retention_d) must be above 0")
        if self.theme not in ("dark", "light"):
            raise ConfigError(f"theme must be 'dark' or 'light', not {self.theme!r}")
        self.llm.validate()
        for channel in self.channels:
            channel.validate()
        channel_names = [c.name for c in self.channels]
        if len(set(channel_names)) != len(channel_names):
            raise ConfigError("notification channel names must be unique")

    def with_nodes(self, nodes: tuple[NodeConfig, ...]) -> Settings:
        return replace(self, nodes=nodes)


_KNOWN = {"nodes", "poll_interval_s", "scrape_timeout_s", "raw_retention_h", "rollup_retention_d", "theme",
          "close_to_tray", "channels", "llm"}


_NUMBERS = ("poll_interval_s", "scrape_timeout_s", "raw_retention_h", "rollup_retention_d")


def _check_types(data: dict[str, Any]) -> None:
    """Wrong JSON types get a message naming the key, before anything is built from them."""
    for key in _NUMBERS:
        value = data.get(key, 1.0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number, not {value!r}")
    if not isinstance(data.get("theme", ""), str):
        raise ConfigError("theme must be 'dark' or 'light'")
    if not isinstance(data.get("close_to_tray", True), bool):
        raise ConfigError("close_to_tray must be true or false")
    nodes = data.get("nodes", [])
    if not isinstance(nodes, list) or not all(
        isinstance(n, dict) and isinstance(n.get("name"), str) and isinstance(n.get("url"), str)
        and all(isinstance(n.get(k, ""), str) for k in ("logs_url", "slurm_url")) for n in nodes
    ):
        raise ConfigError('nodes must be a list of {"name": "...", "url": "http://host:9400/metrics"} objects')
    if not isinstance(data.get("channels", []), list):
        raise ConfigError("channels must be a list")
    llm = data.get("llm", {})
    if not isinstance(llm, dict) or not all(isinstance(llm.get(k, ""), str) for k in ("base_url", "model")):
        raise ConfigError('llm must be an object with text "base_url" and "model"')


def settings_from_dict(data: dict[str, Any]) -> Settings:
    _check_types(data)
    try:
        nodes = tuple(NodeConfig(n["name"], n["url"], n.get("logs_url", ""), n.get("slurm_url", ""))
                      for n in data.get("nodes", []))
        channels = tuple(channel_from_dict(c) for c in data.get("channels", []))
        known = {k: data[k] for k in _KNOWN - {"nodes", "channels", "llm"} if k in data}
        extra = {k: v for k, v in data.items() if k not in _KNOWN}
        llm = LlmConfig(**data.get("llm", {}))
        settings = Settings(nodes=nodes, channels=channels, llm=llm, extra=extra, **known)
    except TypeError as exc:
        raise ConfigError(f"settings are malformed: {exc}") from exc
    settings.validate()
    return settings


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    data = asdict(settings)
    extra = data.pop("extra")
    data["channels"] = [channel_to_dict(c) for c in settings.channels]
    return {**extra, **data}


def load_settings(path: Path) -> Settings:
    """Read settings; a missing file gives the defaults, a broken one a ConfigError naming the file."""
    if not path.exists():
        return Settings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read settings {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"settings {path} must hold a JSON object")
    try:
        return settings_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def save_settings(settings: Settings, path: Path) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a file."""
    settings.validate()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(settings_to_dict(settings), indent=2, sort_keys=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write settings {path}: {exc}") from exc
