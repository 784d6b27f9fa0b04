"""Credentials sealed with AES-GCM under a key that is not in Redis."""

import base64
import os

import pytest

from common.crypto import CredentialError, MasterKeyError, Sealer
from common.settings import Settings


def _sealer() -> Sealer:
    return Sealer(os.urandom(32))


def test_seal_and_open_round_trip():
    sealer = _sealer()

    sealed = sealer.seal("conn-1", "openAI_key", "sk-secret")

    assert "sk-secret" not in sealed
    assert sealer.open("conn-1", "openAI_key", sealed) == "sk-secret"


def test_a_sealed_value_does_not_open_under_another_connector_or_name():
    sealer = _sealer()
    sealed = sealer.seal("conn-1", "openAI_key", "sk-secret")

    with pytest.raises(CredentialError):
        sealer.open("conn-2", "openAI_key", sealed)
    with pytest.raises(CredentialError):
        sealer.open("conn-1", "other", sealed)


def test_a_different_key_cannot_open():
    sealed = _sealer().seal("c", "k", "v")

    with pytest.raises(CredentialError, match="master key"):
        _sealer().open("c", "k", sealed)


def test_key_from_a_file(tmp_path):
    path = tmp_path / "master.key"
    path.write_text(base64.b64encode(os.urandom(32)).decode())

    sealer = Sealer.from_settings(Settings(master_key_file=str(path)))

    assert sealer.open("c", "k", sealer.seal("c", "k", "v")) == "v"


@pytest.mark.parametrize(
    "settings",
    [
        Settings(),
        Settings(master_key="not base64!"),
        Settings(master_key=base64.b64encode(b"short").decode()),
        Settings(master_key_file="/nonexistent/key"),
    ],
)
def test_missing_or_bad_keys_say_what_to_do(settings):
    with pytest.raises(MasterKeyError):
        Sealer.from_settings(settings)
