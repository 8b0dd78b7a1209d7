"""Local history: GPU samples in SQLite, rollups, retention and chart queries; alert rules and events."""

from gpuwatch_desktop.storage.alerts_codec import rule_from_dict, rule_from_json, rule_to_dict, rule_to_json
from gpuwatch_desktop.storage.alerts_store import AlertStore
from gpuwatch_desktop.storage.query import SeriesData
from gpuwatch_desktop.storage.schema import SCHEMA_VERSION
from gpuwatch_desktop.storage.store import HistoryStore, KnownGpu, ScrapeRecord, default_path

__all__ = [
    "SCHEMA_VERSION",
    "AlertStore",
    "HistoryStore",
    "KnownGpu",
    "ScrapeRecord",
    "SeriesData",
    "default_path",
    "rule_from_dict",
    "rule_from_json",
    "rule_to_dict",
    "rule_to_json",
]
