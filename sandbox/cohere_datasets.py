"""Cohere datasets in the sandbox: parsing uploads, Avro parts, wire records.

An upload is parsed and checked once, when it arrives; the verdict is only
revealed when the validation phase of the clock has passed, the way Cohere
validates asynchronously. Rows live in Avro part files under
``DATA_DIR/cohere/``, the format the SDK's ``dataset_generator`` reads.
"""

import contextlib
import csv
import io
import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import fastavro

#: Rows per Avro part file; real datasets are split into several parts too.
PART_ROWS = 5000
#: Dataset names must be shorter than this (datasets.mdx).
NAME_LIMIT_CHARS = 50
#: Every dataset type the SDK's ``DatasetType`` enum knows.
KNOWN_TYPES = (
    "embed-input",
    "embed-result",
    "cluster-result",
    "cluster-outliers",
    "reranker-finetune-input",
    "single-label-classification-finetune-input",
    "chat-finetune-input",
    "multi-label-classification-finetune-input",
    "batch-chat-input",
    "batch-openai-chat-input",
    "batch-embed-v2-input",
    "batch-chat-v2-input",
)
#: Rows shown in a part's ``samples``.
SAMPLE_ROWS = 3

_AVRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class InvalidUpload(Exception):
    """The upload breaks a rule Cohere checks before answering (HTTP 400)."""


class MalformedRow(Exception):
    """One input row breaks a rule that validation checks."""


@dataclass
class UploadOptions:
    keep_fields: list[str] = field(default_factory=list)
    optional_fields: list[str] = field(default_factory=list)
    skip_malformed_input: bool = False
    csv_delimiter: str = ","
    text_separator: str | None = None


@dataclass
class Part:
    id: str
    name: str
    path: str
    index: int
    size_bytes: int
    num_rows: int
    samples: list[str]


@dataclass
class Dataset:
    """One dataset; ``outcome`` is what validation will report once done."""

    id: str
    name: str
    dataset_type: str
    created_at: float
    ready_at: float
    outcome: str = "validated"
    validation_error: str | None = None
    warnings: list[str] = field(default_factory=list)
    schema: dict | None = None
    preserve_fields: list[str] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    parse_info: dict = field(default_factory=dict)

    def status_at(self, now: float) -> str:
        if now >= self.ready_at:
            return self.outcome
        halfway = self.created_at + (self.ready_at - self.created_at) / 2
        return "processing" if now >= halfway else "queued"


def new_dataset_id(name: str) -> str:
    """Cohere ids read like the name plus a short random suffix."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:30] or "dataset"
    return f"{slug}-{secrets.token_hex(3)}"


def iso(epoch_s: float) -> str:
    moment = datetime.fromtimestamp(epoch_s, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- parsing an embed-input upload ----------------------------------------


def parse_embed_input(raw: bytes, filename: str, options: UploadOptions):
    """Return ``(rows, warnings)`` or raise MalformedRow for the first bad row.

    Bytes are decoded as UTF-8 whatever the process locale says.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedRow(
            f"the file is not valid UTF-8 (byte offset {exc.start})"
        ) from None
    if _looks_like_csv(text, filename):
        rows = _csv_rows(text, options)
    else:
        rows = _jsonl_rows(text, options)
    kept, warnings = [], []
    for line_no, row in rows:
        try:
            kept.append(_checked_row(row, line_no, options))
        except MalformedRow as exc:
            if not options.skip_malformed_input:
                raise
            warnings.append(f"skipped malformed row: {exc}")
    if not kept:
        raise MalformedRow("the dataset has no valid rows")
    return kept, warnings


def _looks_like_csv(text: str, filename: str) -> bool:
    lowered = filename.lower()
    if lowered.endswith(".csv"):
        return True
    if lowered.endswith((".jsonl", ".json")):
        return False
    return not text.lstrip().startswith("{")


def _jsonl_rows(text: str, options: UploadOptions):
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict):
            row = MalformedRow(f"the row is not a JSON object (line: {line_no})")
        yield line_no, row


def _csv_rows(text: str, options: UploadOptions):
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=options.csv_delimiter)
    header = next(reader, None)
    if not header or "text" not in header:
        raise MalformedRow("csv files must have a header with the required fields")
    for name in options.keep_fields:
        if name not in header:
            raise MalformedRow(_missing(name, 1))
    for values in reader:
        line_no = reader.line_num
        if not values:
            continue
        if len(values) != len(header):
            yield (
                line_no,
                MalformedRow(
                    f"the row has {len(values)} columns, the header {len(header)} "
                    f"(line: {line_no})"
                ),
            )
            continue
        yield line_no, dict(zip(header, values, strict=True))


def _missing(name: str, line_no: int) -> str:
    # Cohere's own wording, spelling included (datasets.mdx).
    return f"The required field {name} was not fund in the dataset (line: {line_no})"


def _checked_row(row, line_no: int, options: UploadOptions) -> dict:
    if isinstance(row, MalformedRow):
        raise row
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        raise MalformedRow(_missing("text", line_no))
    checked = {"text": text}
    for name in options.keep_fields:
        if name not in row:
            raise MalformedRow(_missing(name, line_no))
        checked[name] = row[name]
    for name in options.optional_fields:
        checked[name] = row.get(name)
    return checked


# --- Avro schemas and parts -----------------------------------------------


def kept_field_schemas(rows: list[dict], names: list[str]) -> list[dict]:
    """Avro field definitions for the kept fields, typed from their values."""
    schemas = []
    for name in names:
        if not _AVRO_NAME.match(name):
            raise MalformedRow(
                f"the field {name!r} cannot be kept: field names may hold only "
                f"letters, digits and underscores"
            )
        values = [row.get(name) for row in rows]
        schemas.append({"name": name, "type": ["null", _avro_type(values)]})
    return schemas


def _avro_type(values: list) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "boolean"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "long"
    numbers = all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in present
    )
    if present and numbers:
        return "double"
    return "string"


def coerce_row(row: dict, field_schemas: list[dict]) -> dict:
    """Make kept values fit their Avro type (mixed values travel as JSON text)."""
    for spec in field_schemas:
        value = row.get(spec["name"])
        kind = spec["type"][1] if isinstance(spec["type"], list) else spec["type"]
        if kind == "string" and value is not None and not isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False)
        if kind == "double" and value is not None:
            value = float(value)
        row[spec["name"]] = value
    return row


def write_parts(directory: str, dataset_name: str, schema: dict, rows: list[dict]):
    """Write ``rows`` as Avro part files and return their Part records."""
    os.makedirs(directory, exist_ok=True)
    parsed = fastavro.parse_schema(schema)
    parts = []
    for index, start in enumerate(range(0, len(rows), PART_ROWS)):
        chunk = rows[start : start + PART_ROWS]
        part_id = secrets.token_hex(8)
        path = os.path.join(directory, f"{part_id}.avro")
        with open(path, "wb") as out:
            fastavro.writer(out, parsed, chunk)
        samples = [json.dumps(row, ensure_ascii=False) for row in chunk[:SAMPLE_ROWS]]
        parts.append(
            Part(
                id=part_id,
                name=f"{dataset_name}-{index:05d}.avro",
                path=path,
                index=index,
                size_bytes=os.path.getsize(path),
                num_rows=len(chunk),
                samples=samples,
            )
        )
    return parts


def read_rows(dataset: Dataset):
    """Yield the dataset's rows in their original order."""
    for part in dataset.parts:
        with open(part.path, "rb") as source:
            yield from fastavro.reader(source)


def remove_parts(dataset: Dataset) -> None:
    for part in dataset.parts:
        with contextlib.suppress(FileNotFoundError):
            os.remove(part.path)


# --- the wire -------------------------------------------------------------


def to_wire(dataset: Dataset, parts_url: str, now: float | None = None) -> dict:
    """The ``Dataset`` object as the API returns it.

    ``parts_url`` is the loopback URL prefix the parts are served under; it is
    built from the request so the URLs work whatever port the sandbox has.
    """
    now = time.time() if now is None else now
    status = dataset.status_at(now)
    body = {
        "id": dataset.id,
        "name": dataset.name,
        "created_at": iso(dataset.created_at),
        "updated_at": iso(max(dataset.created_at, min(now, dataset.ready_at))),
        "dataset_type": dataset.dataset_type,
        "validation_status": status,
        "required_fields": ["text"],
        "preserve_fields": list(dataset.preserve_fields),
        "parse_info": dict(dataset.parse_info),
    }
    if status == "failed":
        body["validation_error"] = dataset.validation_error
    if status == "validated":
        body["schema"] = json.dumps(dataset.schema)
        body["validation_warnings"] = list(dataset.warnings)
        body["dataset_parts"] = [_part_wire(p, parts_url) for p in dataset.parts]
    return body


def _part_wire(part: Part, parts_url: str) -> dict:
    return {
        "id": part.id,
        "name": part.name,
        "url": f"{parts_url}/{part.id}",
        "index": part.index,
        "size_bytes": part.size_bytes,
        "num_rows": part.num_rows,
        "samples": list(part.samples),
    }


# --- building datasets ----------------------------------------------------


def build_embed_input(
    directory: str,
    name: str,
    upload: tuple[bytes, str],
    options: UploadOptions,
    now: float,
    validating_s: float,
) -> Dataset:
    """Parse an ``embed-input`` upload into a dataset whose verdict is kept back.

    ``upload`` is the file's bytes and its name (the name tells csv from
    jsonl). A bad file still makes a dataset: it ends ``failed`` with a
    ``validation_error`` naming the line.
    """
    preserved = list(dict.fromkeys(options.keep_fields + options.optional_fields))
    dataset = Dataset(
        id=new_dataset_id(name),
        name=name,
        dataset_type="embed-input",
        created_at=now,
        ready_at=now + validating_s,
        preserve_fields=[f for f in preserved if f != "text"],
        parse_info=_parse_info(options, upload[1]),
    )
    try:
        rows, warnings = parse_embed_input(upload[0], upload[1], options)
        kept = kept_field_schemas(rows, dataset.preserve_fields)
    except MalformedRow as exc:
        dataset.outcome = "failed"
        dataset.validation_error = str(exc)
        return dataset

    dataset.schema = {
        "type": "record",
        "name": "EmbedInput",
        "fields": [{"name": "text", "type": "string"}, *kept],
    }
    rows = [coerce_row(row, kept) for row in rows]
    dataset.parts = write_parts(directory, dataset.id, dataset.schema, rows)
    dataset.warnings = warnings
    return dataset


def _parse_info(options: UploadOptions, filename: str) -> dict:
    info = {}
    if options.text_separator is not None:
        info["separator"] = options.text_separator
    if filename.lower().endswith(".csv"):
        info["delimiter"] = options.csv_delimiter
    return info
