"""Connector credentials sealed at rest with AES-GCM.

The 32-byte master key comes from ``BATCHPREDICT_MASTER_KEY`` (base64) or the
file named by ``BATCHPREDICT_MASTER_KEY_FILE``, never from Redis. Each value
is bound to its connector and credential name as associated data, so a sealed
value copied to another connector or field does not open.

``python -m common.crypto`` prints a new key.
"""

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from common.errors import BatchPredictError
from common.settings import Settings

_VERSION = "v1:"
_NONCE_BYTES = 12


class MasterKeyError(BatchPredictError):
    """The master key is missing or malformed."""


class CredentialError(BatchPredictError):
    """A sealed credential did not open with the master key."""


class Sealer:
    def __init__(self, key: bytes):
        if len(key) != 32:
            raise MasterKeyError(f"the master key must be 32 bytes, got {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Sealer":
        raw = settings.master_key
        if not raw and settings.master_key_file:
            try:
                with open(settings.master_key_file, encoding="ascii") as handle:
                    raw = handle.read().strip()
            except OSError as exc:
                raise MasterKeyError(
                    f"cannot read BATCHPREDICT_MASTER_KEY_FILE "
                    f"{settings.master_key_file!r}: {exc.strerror}"
                ) from exc
        if not raw:
            raise MasterKeyError(
                "no master key: set BATCHPREDICT_MASTER_KEY (base64 of 32 bytes) or "
                "BATCHPREDICT_MASTER_KEY_FILE; `python -m common.crypto` makes one"
            )
        try:
            key = base64.b64decode(raw, validate=True)
        except ValueError as exc:
            raise MasterKeyError("the master key is not valid base64") from exc
        return cls(key)

    def seal(self, owner_id: str, name: str, value: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), _aad(owner_id, name))
        return _VERSION + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, owner_id: str, name: str, sealed: str) -> str:
        if not sealed.startswith(_VERSION):
            raise CredentialError(f"credential {name!r} is not a sealed value")
        blob = base64.b64decode(sealed[len(_VERSION) :])
        try:
            plain = self._aead.decrypt(
                blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _aad(owner_id, name)
            )
        except InvalidTag as exc:
            raise CredentialError(
                f"credential {name!r} of connector {owner_id} does not open with "
                "this master key (was the key changed?)"
            ) from exc
        return plain.decode("utf-8")

    def seal_all(self, owner_id: str, credential: dict[str, str]) -> dict[str, str]:
        return {n: self.seal(owner_id, n, v) for n, v in credential.items()}

    def open_all(self, owner_id: str, sealed: dict[str, str]) -> dict[str, str]:
        return {n: self.open(owner_id, n, v) for n, v in sealed.items()}


def _aad(owner_id: str, name: str) -> bytes:
    return f"{owner_id}\x00{name}".encode()


if __name__ == "__main__":
    print(base64.b64encode(os.urandom(32)).decode("ascii"))
