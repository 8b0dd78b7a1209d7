"""Retry backoff of notification channels: doubling from the initial delay, capped."""

from __future__ import annotations

from gpuwatch_desktop.alerts.notify.dispatcher import RetryPolicy


def test_default_backoff_doubles_from_2_s_to_5_min() -> None:
    policy = RetryPolicy()
    assert [policy.delay(n) for n in range(1, 10)] == [2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert policy.delay(50) == 300
    assert policy.max_attempts == 8
