"""Alerting: rule engine and notifications (imports core and config only, never Qt)."""
