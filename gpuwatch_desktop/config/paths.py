"""Where the app keeps its files: the user config and data dirs, overridable from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

from platformdirs import user_config_dir, user_data_dir

APP_NAME = "gpuwatch"


def default_config_path() -> Path:
    return Path(user_config_dir(APP_NAME)) / "settings.json"


def default_data_dir() -> Path:
    return Path(user_data_dir(APP_NAME))


def history_db_path(data_dir: Path) -> Path:
    return data_dir / "history.sqlite3"


def resources_dir() -> Path:
    """The shipped resources/ folder: inside a PyInstaller bundle, else at the repository top level."""
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) / "resources" if bundle else Path(__file__).resolve().parents[2] / "resources"


def terraform_module_dir() -> Path:
    """The shipped terraform/ module (RunPod pods): inside a PyInstaller bundle, else at the repository top level."""
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) / "terraform" if bundle else Path(__file__).resolve().parents[2] / "terraform"
