"""GPU prices per hour by model name: the shipped table, overridden by the user's copy in the config dir."""

from __future__ import annotations

from pathlib import Path

import yaml

from gpuwatch_desktop.config.paths import resources_dir
from gpuwatch_desktop.core.errors import ConfigError

PRICES_FILE = "gpu_prices.yaml"


def parse_prices(text: str, source: str) -> dict[str, float]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    prices = data.get("prices") if isinstance(data, dict) else None
    if not isinstance(prices, dict):
        raise ConfigError(f"{source}: needs a 'prices' mapping of GPU model name to dollars per hour")
    table: dict[str, float] = {}
    for model, price in prices.items():
        if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
            raise ConfigError(f"{source}: price of {model!r} must be a number of dollars per hour, not {price!r}")
        table[str(model)] = float(price)
    return table


def load_prices(config_dir: Path | None = None) -> dict[str, float]:
    """The shipped table, with the user's file (if any) laid over it. Blocking file I/O."""
    shipped = resources_dir() / PRICES_FILE
    table = parse_prices(shipped.read_text(encoding="utf-8"), str(shipped))
    user = config_dir / PRICES_FILE if config_dir else None
    if user is not None and user.exists():
        table.update(parse_prices(user.read_text(encoding="utf-8"), str(user)))
    return table
