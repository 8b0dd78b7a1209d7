"""SecretStore over an in-memory keyring backend (a fake of the third-party boundary) and keyring's fail backend."""

from __future__ import annotations

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.compat import properties
from keyring.errors import KeyringLocked, PasswordDeleteError, PasswordSetError

from gpuwatch_desktop.config.secrets import (
    SecretStore,
    SecretStoreError,
    redact,
    smtp_secret_name,
    webhook_secret_name,
)

SECRET = "https://hooks.example.com/services/T000/B000/s3cr3t-t0ken"


class MemoryKeyring(KeyringBackend):
    """Keeps passwords in a dict. Priority below keyring's fail backend: never chosen by keyring itself."""

    @properties.classproperty
    def priority(cls) -> float:
        return -10

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.items:
            raise PasswordDeleteError("no such password")
        del self.items[(service, username)]


class LockedKeyring(MemoryKeyring):
    """A keyring whose backend echoes the value in its error, as a careless backend might."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError(f"could not store {password!r}")


def test_set_get_delete_round_trip_per_service() -> None:
    backend = MemoryKeyring()
    store = SecretStore(backend=backend)
    other = SecretStore(service="other-app", backend=backend)
    store.set(webhook_secret_name("ops"), SECRET)
    assert store.get("webhook:ops") == SECRET
    assert other.get("webhook:ops") is None
    assert store.get(smtp_secret_name("ops")) is None
    store.delete("webhook:ops")
    assert store.get("webhook:ops") is None
    store.delete("webhook:ops")  # deleting what is gone is fine


def test_available_names_the_backend() -> None:
    ok, reason = SecretStore(backend=MemoryKeyring()).available()
    assert ok
    assert "MemoryKeyring" in reason


def test_no_keyring_says_what_to_install() -> None:
    store = SecretStore(backend=fail.Keyring())
    ok, reason = store.available()
    assert not ok
    assert reason.startswith("no system keyring found")
    assert "gnome-keyring" in reason or "Keychain" in reason or "Credential Manager" in reason
    with pytest.raises(SecretStoreError, match="cannot read secret 'smtp:mail': no system keyring found"):
        store.get("smtp:mail")
    with pytest.raises(SecretStoreError, match="no system keyring found") as caught:
        store.set("webhook:ops", SECRET)
    assert SECRET not in str(caught.value)


def test_backend_errors_become_secret_store_errors_without_the_value() -> None:
    store = SecretStore(backend=LockedKeyring())
    with pytest.raises(SecretStoreError, match=r"cannot read secret 'webhook:ops'.*KeyringLocked.*locked"):
        store.get("webhook:ops")
    with pytest.raises(SecretStoreError, match="cannot store secret 'webhook:ops'") as caught:
        store.set("webhook:ops", SECRET)
    shown = str(caught.value)
    assert SECRET not in shown
    assert "***" in shown
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_empty_secret_is_refused_and_nothing_is_stored() -> None:
    backend = MemoryKeyring()
    with pytest.raises(SecretStoreError, match="empty secret"):
        SecretStore(backend=backend).set("smtp:mail", "")
    assert backend.items == {}


def test_redact_hides_every_secret_longest_first() -> None:
    text = f"POST {SECRET} failed; token s3cr3t-t0ken; password hunter2"
    shown = redact(text, [None, "", "s3cr3t-t0ken", SECRET, "hunter2"])
    assert shown == "POST *** failed; token ***; password ***"
    assert redact("nothing here", ["hunter2"]) == "nothing here"
