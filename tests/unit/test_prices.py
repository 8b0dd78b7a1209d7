from __future__ import annotations

from pathlib import Path

import pytest

from gpuwatch_desktop.config.prices import load_prices, parse_prices
from gpuwatch_desktop.core.errors import ConfigError


def test_shipped_table_has_the_demo_gpu_and_the_user_file_overrides_it(tmp_path: Path) -> None:
    shipped = load_prices()
    assert shipped["NVIDIA H100 80GB HBM3"] > 0
    (tmp_path / "gpu_prices.yaml").write_text('prices:\n  "NVIDIA H100 80GB HBM3": 1.25\n  "My GPU": 0.1\n')
    mine = load_prices(tmp_path)
    assert mine["NVIDIA H100 80GB HBM3"] == 1.25 and mine["My GPU"] == 0.1
    assert mine["NVIDIA L40S"] == shipped["NVIDIA L40S"]


@pytest.mark.parametrize(("text", "message"), [
    ("prices: [1, 2]", "needs a 'prices' mapping"),
    ('prices:\n  "A": -1', "must be a number"),
    ('prices:\n  "A": cheap', "must be a number"),
    ("prices: {a: [", "not valid YAML"),
])
def test_bad_price_files_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_prices(text, "gpu_prices.yaml")
