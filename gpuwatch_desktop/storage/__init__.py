"""Local history: GPU samples in SQLite, rollups, retention and chart queries."""

from gpuwatch_desktop.storage.query import SeriesData
from gpuwatch_desktop.storage.schema import SCHEMA_VERSION
from gpuwatch_desktop.storage.store import HistoryStore, KnownGpu, ScrapeRecord, default_path

__all__ = ["SCHEMA_VERSION", "HistoryStore", "KnownGpu", "ScrapeRecord", "SeriesData", "default_path"]
