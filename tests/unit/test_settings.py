from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuwatch_desktop.config.settings import NodeConfig, Settings, load_settings, save_settings
from gpuwatch_desktop.core.errors import ConfigError


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "nope.json")
    assert settings.nodes == ()
    assert settings.poll_interval_s == 2.0
    assert settings.scrape_timeout_s < settings.poll_interval_s


def test_round_trip_keeps_nodes_and_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"nodes": [{"name": "a", "url": "http://h:9400/metrics"}], "future_key": [1, 2]}))
    settings = load_settings(path)
    assert settings.nodes == (NodeConfig("a", "http://h:9400/metrics"),)
    save_settings(settings.with_nodes((*settings.nodes, NodeConfig("b", "https://x-9400.proxy/metrics"))), path)
    data = json.loads(path.read_text())
    assert data["future_key"] == [1, 2]
    assert [n["name"] for n in data["nodes"]] == ["a", "b"]
    assert not list(tmp_path.glob(".settings-*")), "temp file left behind"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (Settings(nodes=(NodeConfig("", "http://h/metrics"),)), "needs a name"),
        (Settings(nodes=(NodeConfig("a", "ftp://h/metrics"),)), r"not an http\(s\) URL"),
        (Settings(nodes=(NodeConfig("a", "http://h/m"), NodeConfig("a", "http://g/m"))), "unique: a"),
        (Settings(poll_interval_s=2.0, scrape_timeout_s=2.0), "below the poll interval"),
        (Settings(theme="pink"), "theme"),
        (Settings(nodes=(NodeConfig("a", "http://h/m", logs_url="h:8002"),)), "log server 'h:8002'"),
        (Settings(nodes=(NodeConfig("a", "http://h/m", slurm_url="file:///x"),)), "Slurm exporter"),
    ],
)
def test_invalid_settings_are_refused_with_a_reason(settings: Settings, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        save_settings(settings, tmp_path / "s.json")
    assert not (tmp_path / "s.json").exists()


@pytest.mark.parametrize("text", [
    "{not json", "[1, 2]", '{"nodes": [{"name": "a"}]}', '{"nodes": "x"}', '{"poll_interval_s": "fast"}',
    '{"raw_retention_h": "x"}', '{"raw_retention_h": -1}', '{"llm": {"base_url": 5}}', '{"close_to_tray": "no"}',
    '{"poll_interval_s": true}', '{"nodes": [{"name": "a", "url": "http://h/m", "logs_url": 8002}]}',
])
def test_broken_file_names_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match="settings"):
        load_settings(path)


def test_notification_channels_round_trip_without_secrets(tmp_path: Path) -> None:
    from gpuwatch_desktop.config.channels import EmailConfig, WebhookConfig

    path = tmp_path / "settings.json"
    channels = (
        WebhookConfig("ops-slack", style="slack"),
        EmailConfig("oncall", "smtp.example.org", 587, "starttls", "bot", "bot@example.org", ("me@example.org",)),
    )
    save_settings(Settings(channels=channels), path)
    assert load_settings(path).channels == channels
    text = path.read_text()
    assert '"type": "webhook"' in text and '"type": "email"' in text
    assert '"password"' not in text and '"url"' not in text


def test_a_bad_channel_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"channels": [{"type": "pager", "name": "x"}]}))
    with pytest.raises(ConfigError, match="unknown channel type 'pager'"):
        load_settings(path)


def test_node_service_urls_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    head = NodeConfig("head", "https://p1-9400.proxy.runpod.net/metrics", logs_url="https://p1-8002.proxy.runpod.net",
                      slurm_url="https://p1-9341.proxy.runpod.net")
    save_settings(Settings(nodes=(head, NodeConfig("w", "http://w:9400/metrics"))), path)
    assert load_settings(path).nodes == (head, NodeConfig("w", "http://w:9400/metrics"))
