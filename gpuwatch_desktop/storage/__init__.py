"""Local history: GPU samples in SQLite, rollups, retention and chart queries; alert rules and events; the agent's
conversations."""

from gpuwatch_desktop.storage.alerts_codec import rule_from_dict, rule_from_json, rule_to_dict, rule_to_json
from gpuwatch_desktop.storage.alerts_store import AlertStore
from gpuwatch_desktop.storage.conversations import (
    Conversation,
    ConversationStore,
    StoredMessage,
    ToolStep,
    model_history,
    notice_message,
    title_for,
)
from gpuwatch_desktop.storage.query import SeriesData
from gpuwatch_desktop.storage.schema import SCHEMA_VERSION
from gpuwatch_desktop.storage.store import HistoryStore, KnownGpu, ScrapeRecord, default_path

__all__ = [
    "SCHEMA_VERSION",
    "AlertStore",
    "Conversation",
    "ConversationStore",
    "HistoryStore",
    "KnownGpu",
    "ScrapeRecord",
    "SeriesData",
    "StoredMessage",
    "ToolStep",
    "default_path",
    "model_history",
    "notice_message",
    "rule_from_dict",
    "rule_from_json",
    "rule_to_dict",
    "rule_to_json",
    "title_for",
]
