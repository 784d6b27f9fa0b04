"""The deterministic embedder every sandbox provider computes with.

No model weights can be fetched here, so the sandbox embeds text by feature
hashing: each lower-cased word and word pair lands in a signed bucket, and the
vector is L2-normalised. Texts that share words get close vectors, which makes
a nearest-neighbour query over the results meaningful. Every output names
this embedder so nobody mistakes it for a neural model.
"""

import hashlib
import math
import re

EMBEDDER_NAME = "sandbox-hashing-embedder-v1"
EMBEDDER_NOTE = "deterministic feature hashing, not a neural model"

_WORD = re.compile(r"\w+", re.UNICODE)


def _features(text: str) -> dict[str, float]:
    words = [w.lower() for w in _WORD.findall(text)]
    counts: dict[str, float] = {}
    for word in words:
        counts[word] = counts.get(word, 0.0) + 1.0
    for left, right in zip(words, words[1:], strict=False):
        pair = f"{left} {right}"
        counts[pair] = counts.get(pair, 0.0) + 0.5
    return counts


def embed(text: str, dimensions: int = 384) -> list[float]:
    """Return a unit vector of ``dimensions`` floats for ``text``."""
    if dimensions < 1:
        raise ValueError("dimensions must be at least 1")
    vector = [0.0] * dimensions
    for feature, count in _features(text).items():
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
        bucket = int.from_bytes(digest[:4], "little") % dimensions
        sign = 1.0 if digest[4] & 1 else -1.0
        vector[bucket] += sign * (1.0 + math.log(count))
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:
        # An input with no word characters still gets a stable vector.
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=4).digest()
        vector[int.from_bytes(digest, "little") % dimensions] = 1.0
        return vector
    return [round(v / norm, 7) for v in vector]


def count_tokens(text: str) -> int:
    """A rough token count for usage fields: words and punctuation marks."""
    return max(1, len(re.findall(r"\w+|[^\w\s]", text, re.UNICODE)))
