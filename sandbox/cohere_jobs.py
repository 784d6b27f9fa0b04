"""Cohere embed jobs in the sandbox: checking a create, the lifecycle, the output.

A job's status is worked out from the wall clock whenever it is read. The
first read that finds it ``complete`` computes the ``embed-result`` dataset,
once, from the input dataset's Avro parts.
"""

import secrets
import uuid
from dataclasses import dataclass, field

from sandbox.cohere_datasets import Dataset, iso, read_rows, write_parts
from sandbox.embedder import EMBEDDER_NAME, EMBEDDER_NOTE, count_tokens, embed

#: Embedding sizes of the models embed jobs accept (v3 and newer only).
MODEL_DIMENSIONS = {
    "embed-english-v3.0": 1024,
    "embed-multilingual-v3.0": 1024,
    "embed-english-light-v3.0": 384,
    "embed-multilingual-light-v3.0": 384,
    "embed-v4.0": 1536,
}
INPUT_TYPES = (
    "search_document",
    "search_query",
    "classification",
    "clustering",
    "image",
)
EMBEDDING_TYPES = ("float", "int8", "uint8", "binary", "ubinary")
TRUNCATE_MODES = ("START", "END")
#: A warning on every job and result so nobody mistakes the vectors for a model's.
EMBEDDER_WARNING = f"embedder: {EMBEDDER_NAME} ({EMBEDDER_NOTE})"

_ARRAY_OF = {"float": "double"}


class Rejected(Exception):
    """The create request is refused; ``status`` is the HTTP status to send."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class EmbedJob:
    job_id: str
    name: str | None
    created_at: float
    processing_s: float
    input_dataset_id: str
    model: str
    input_type: str
    truncate: str
    embedding_types: list[str]
    ends_failed: bool = False
    cancel_asked_at: float | None = None
    output_dataset_id: str | None = None
    input_tokens: int | None = None
    warnings: list[str] = field(default_factory=lambda: [EMBEDDER_WARNING])

    def status_at(self, now: float, cancelling_s: float) -> str:
        if self.cancel_asked_at is not None:
            done = now >= self.cancel_asked_at + cancelling_s
            return "cancelled" if done else "cancelling"
        if now < self.created_at + self.processing_s:
            return "processing"
        return "failed" if self.ends_failed else "complete"


def check_create(body, datasets: dict[str, Dataset], now: float) -> dict:
    """Return the normalised create arguments or raise Rejected."""
    if not isinstance(body, dict):
        raise Rejected(400, "The request body must be a JSON object.")
    model = body.get("model")
    if model not in MODEL_DIMENSIONS:
        raise Rejected(
            400,
            f"model must be one of {', '.join(MODEL_DIMENSIONS)} "
            f"(embed jobs support v3 and newer models), got {model!r}",
        )
    input_type = body.get("input_type")
    if input_type not in INPUT_TYPES:
        raise Rejected(
            400,
            f"input_type must be one of {', '.join(INPUT_TYPES)}, got {input_type!r}",
        )
    types = body.get("embedding_types") or ["float"]
    if not isinstance(types, list) or not set(types) <= set(EMBEDDING_TYPES):
        raise Rejected(
            400,
            f"embedding_types must be a list of "
            f"{', '.join(EMBEDDING_TYPES)}, got {types!r}",
        )
    truncate = body.get("truncate") or "END"
    if truncate not in TRUNCATE_MODES:
        raise Rejected(400, f"truncate must be START or END, got {truncate!r}")
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise Rejected(400, f"name must be a string, got {name!r}")
    dataset = _checked_dataset(body.get("dataset_id"), datasets, now)
    return {
        "model": model,
        "input_type": input_type,
        "truncate": truncate,
        "embedding_types": list(dict.fromkeys(types)),
        "name": name,
        "input_dataset_id": dataset.id,
    }


def _checked_dataset(dataset_id, datasets: dict[str, Dataset], now: float):
    if not isinstance(dataset_id, str) or not dataset_id:
        raise Rejected(400, "The dataset_id parameter must be set.")
    dataset = datasets.get(dataset_id)
    if dataset is None:
        raise Rejected(404, f"The dataset with id '{dataset_id}' was not found.")
    if dataset.dataset_type != "embed-input":
        raise Rejected(
            400,
            f"The dataset '{dataset_id}' is of type "
            f"{dataset.dataset_type}; embed jobs need embed-input.",
        )
    status = dataset.status_at(now)
    if status != "validated":
        raise Rejected(
            400,
            f"The dataset '{dataset_id}' has validation status "
            f"{status}; it must be validated.",
        )
    return dataset


def to_wire(job: EmbedJob, status: str) -> dict:
    """The ``EmbedJob`` object as the API returns it."""
    meta = {"api_version": {"version": "1"}, "warnings": list(job.warnings)}
    if job.input_tokens is not None:
        meta["billed_units"] = {"input_tokens": job.input_tokens}
    body = {
        "job_id": job.job_id,
        "status": status,
        "created_at": iso(job.created_at),
        "input_dataset_id": job.input_dataset_id,
        "model": job.model,
        "truncate": job.truncate,
        "meta": meta,
    }
    if job.name is not None:
        body["name"] = job.name
    if job.output_dataset_id is not None:
        body["output_dataset_id"] = job.output_dataset_id
    return body


def new_job_id() -> str:
    return str(uuid.uuid4())


# --- the output -----------------------------------------------------------


def build_result(
    job: EmbedJob, source: Dataset, directory: str, finished_at: float
) -> Dataset:
    """Embed every input row, in order, into a new ``embed-result`` dataset."""
    dimensions = MODEL_DIMENSIONS[job.model]
    kept = [f for f in source.schema["fields"] if f["name"] != "text"]
    schema = {
        "type": "record",
        "name": "EmbedResult",
        "fields": [
            {"name": "text", "type": "string"},
            {"name": "embeddings", "type": _embeddings_schema()},
            *kept,
        ],
    }
    rows, tokens = [], 0
    for row in read_rows(source):
        vector = embed(row["text"], dimensions)
        tokens += count_tokens(row["text"])
        embeddings = {kind: None for kind in EMBEDDING_TYPES}
        for kind in job.embedding_types:
            embeddings[kind] = quantize(vector, kind)
        rows.append({**row, "embeddings": embeddings})
    job.input_tokens = tokens

    # The name carries the embedder so the vectors are never taken for a model's.
    name = f"{job.name or job.job_id}-output.{EMBEDDER_NAME}"
    dataset_id = f"{job.job_id[:8]}-output-{secrets.token_hex(3)}"
    result = Dataset(
        id=dataset_id,
        name=name,
        dataset_type="embed-result",
        created_at=finished_at,
        ready_at=finished_at,
        schema=schema,
        preserve_fields=list(source.preserve_fields),
        warnings=[EMBEDDER_WARNING],
    )
    result.parts = write_parts(directory, dataset_id, schema, rows)
    return result


def _embeddings_schema() -> dict:
    fields = []
    for kind in EMBEDDING_TYPES:
        items = _ARRAY_OF.get(kind, "int")
        array = {"type": "array", "items": items}
        fields.append({"name": kind, "type": ["null", array], "default": None})
    return {"type": "record", "name": "Embeddings", "fields": fields}


def quantize(vector: list[float], kind: str) -> list:
    """One embedding type from the float vector, as Cohere defines each."""
    if kind == "float":
        return list(vector)
    if kind == "int8":
        return [max(-128, min(127, round(v * 127))) for v in vector]
    if kind == "uint8":
        return [max(0, min(255, round((v + 1) * 127.5))) for v in vector]
    packed = _pack_signs(vector)
    if kind == "ubinary":
        return packed
    return [byte - 128 for byte in packed]


def _pack_signs(vector: list[float]) -> list[int]:
    # One bit per dimension, 1 for positive, eight dimensions to a byte.
    packed = []
    for start in range(0, len(vector), 8):
        byte = 0
        for v in vector[start : start + 8]:
            byte = (byte << 1) | (1 if v > 0 else 0)
        packed.append(byte)
    return packed
