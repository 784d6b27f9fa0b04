"""The OpenAI Files stand-in's store: file objects in memory, bytes on disk.

Bytes live under ``DATA_DIR/openai/<file id>`` exactly as uploaded, so text
round-trips byte for byte whatever the process locale is.
"""

import itertools
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.openai_wire import cursor_page, invalid, new_id, not_found

#: Purposes a client may upload with; ``batch_output`` is made by batches only.
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")

#: Files uploaded for batches expire after 30 days unless told otherwise.
BATCH_FILE_TTL_S = 30 * 24 * 3600

#: The range ``expires_after[seconds]`` (and ``output_expires_after``) accepts.
EXPIRY_MIN_S = 3600
EXPIRY_MAX_S = 30 * 24 * 3600


@dataclass
class StoredFile:
    id: str
    seq: int
    size_bytes: int
    created_at: int
    filename: str
    purpose: str
    expires_at: int | None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.size_bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": self.expires_at,
            "status_details": None,
        }


def check_expiry(anchor: str | None, seconds, param: str) -> int:
    """Validate an ``expires_after`` pair and return its seconds."""
    if anchor != "created_at":
        raise invalid(
            f"Invalid '{param}[anchor]': expected 'created_at', got '{anchor}'.",
            f"{param}[anchor]",
            "invalid_value",
        )
    try:
        value = int(seconds)
    except (TypeError, ValueError):
        value = None
    if value is None or not EXPIRY_MIN_S <= value <= EXPIRY_MAX_S:
        raise invalid(
            f"Invalid '{param}[seconds]': expected an integer between "
            f"{EXPIRY_MIN_S} and {EXPIRY_MAX_S}, got '{seconds}'.",
            f"{param}[seconds]",
            "integer_out_of_range",
        )
    return value


@dataclass
class FileStore:
    """Thread-safe file objects; the bytes are written before the object shows."""

    root: Path
    _files: dict[str, StoredFile] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seq: itertools.count = field(default_factory=itertools.count)

    def add(
        self,
        data: bytes,
        filename: str,
        purpose: str,
        expires_after_s: int | None = None,
        created_at: int | None = None,
    ) -> StoredFile:
        created_at = int(time.time()) if created_at is None else created_at
        if expires_after_s is None and purpose == "batch":
            expires_after_s = BATCH_FILE_TTL_S
        expires_at = None if expires_after_s is None else created_at + expires_after_s
        file_id = new_id("file-")
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / file_id).write_bytes(data)
        stored = StoredFile(
            id=file_id,
            seq=next(self._seq),
            size_bytes=len(data),
            created_at=created_at,
            filename=filename,
            purpose=purpose,
            expires_at=expires_at,
        )
        with self._lock:
            self._files[file_id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile:
        with self._lock:
            stored = self._files.get(file_id)
        if stored is None:
            raise not_found("File", file_id)
        return stored

    def content(self, file_id: str) -> bytes:
        stored = self.get(file_id)
        try:
            return (self.root / stored.id).read_bytes()
        except FileNotFoundError:
            # Deleted (or reset) between the lookup and the read.
            raise not_found("File", file_id) from None

    def delete(self, file_id: str) -> None:
        with self._lock:
            if self._files.pop(file_id, None) is None:
                raise not_found("File", file_id)
        (self.root / file_id).unlink(missing_ok=True)

    def page(
        self, purpose: str | None, after: str | None, limit: int, order: str
    ) -> tuple[list[StoredFile], bool]:
        with self._lock:
            files = [f for f in self._files.values() if purpose in (None, f.purpose)]
        files.sort(key=lambda f: (f.created_at, f.seq), reverse=order == "desc")
        return cursor_page(files, after, limit)

    def clear(self) -> None:
        with self._lock:
            self._files.clear()
        shutil.rmtree(self.root, ignore_errors=True)
