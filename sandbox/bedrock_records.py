"""Bedrock batch inference's data path, done for real against moto's S3.

Input is JSONL of ``{"recordId", "modelInput"}``: one ``.jsonl`` object or
every ``.jsonl`` under a prefix. A ``modelInput`` with ``inputText`` is
embedded Titan-style; anything else gets a deterministic echo. Output is one
``<input name>.out`` per input object plus ``manifest.json.out``, under
``<outputUri>/<job id>/``.
"""

import json
from dataclasses import dataclass, field

from sandbox.aws_support import S3Missing, S3Store, join_key, parse_s3_uri
from sandbox.embedder import EMBEDDER_NAME, EMBEDDER_NOTE, count_tokens, embed

DEFAULT_DIMENSIONS = 384
MAX_DIMENSIONS = 4096
#: The error code Bedrock gives a record the job did not reach in time.
NOT_PROCESSED_CODE = 408


class InputInvalid(Exception):
    """The job's input cannot be read; the message becomes the job's."""


@dataclass
class InputFile:
    bucket: str
    key: str
    name: str  # relative to the input prefix; the output is <name>.out
    records: list[dict] = field(default_factory=list)


@dataclass
class Counts:
    total: int = 0
    processed: int = 0
    success: int = 0
    error: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def as_manifest(self) -> dict:
        return {
            "totalRecordCount": self.total,
            "processedRecordCount": self.processed,
            "successRecordCount": self.success,
            "errorRecordCount": self.error,
            "inputTokenCount": self.input_tokens,
            "outputTokenCount": self.output_tokens,
        }


def read_input(store: S3Store, s3_uri: str) -> list[InputFile]:
    """Every input file with its parsed records; InputInvalid if unusable."""
    location = parse_s3_uri(s3_uri)
    try:
        if location.key.endswith(".jsonl"):
            names = [(location.key, location.key.rsplit("/", 1)[-1])]
        else:
            base = location.key[: location.key.rfind("/") + 1]
            keys = store.keys_under(location)
            names = [(key, key[len(base) :]) for key in keys if key.endswith(".jsonl")]
        if not names:
            raise InputInvalid(f"No .jsonl input files were found at {s3_uri}.")
        files = [InputFile(location.bucket, key, name) for key, name in names]
        for input_file in files:
            data = store.read(input_file.bucket, input_file.key)
            input_file.records = _parse(data, input_file.name)
    except S3Missing as exc:
        raise InputInvalid(f"Unable to read the input data: {exc}.") from exc
    return files


def _parse(data: bytes, name: str) -> list[dict]:
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputInvalid(f"{name} is not UTF-8 text.") from exc
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise InputInvalid(f"Malformed JSON at line {number} of {name}.") from exc
        if not isinstance(record, dict) or not isinstance(
            record.get("modelInput"), dict
        ):
            raise InputInvalid(
                f"Line {number} of {name} must be an object with recordId and "
                "a modelInput object."
            )
        records.append(record)
    return records


def run(
    files: list[InputFile], job_id: str, output_uri: str, succeed: int | None = None
) -> tuple[list[tuple[str, str, bytes]], Counts]:
    """Answer every record; return the objects to write and the counts.

    ``succeed`` caps how many records finish (a partial outcome); the rest
    get Bedrock's "not processed in time" error.
    """
    output = parse_s3_uri(output_uri)
    prefix = join_key(output.key, job_id)
    counts, objects = Counts(), []
    for input_file in files:
        lines = []
        for record in input_file.records:
            reached = succeed is None or counts.success < succeed
            lines.append(_answer(record, reached, counts))
        body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        key = join_key(prefix, input_file.name + ".out")
        objects.append((output.bucket, key, body.encode("utf-8")))
    manifest = json.dumps(counts.as_manifest()).encode("utf-8")
    objects.append((output.bucket, join_key(prefix, "manifest.json.out"), manifest))
    return objects, counts


def _answer(record: dict, reached: bool, counts: Counts) -> dict:
    model_input = record["modelInput"]
    line = {"recordId": record.get("recordId"), "modelInput": model_input}
    counts.total += 1
    counts.processed += 1
    try:
        if not reached:
            raise _RecordError(
                NOT_PROCESSED_CODE,
                "The record was not processed before the job's time ran out.",
            )
        line["modelOutput"] = _invoke(model_input, counts)
        counts.success += 1
    except _RecordError as exc:
        line["error"] = {"errorCode": exc.code, "errorMessage": exc.message}
        counts.error += 1
    return line


class _RecordError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _invoke(model_input: dict, counts: Counts) -> dict:
    if "inputText" not in model_input:
        return _echo(model_input, counts)
    text = model_input["inputText"]
    dimensions = model_input.get("dimensions", DEFAULT_DIMENSIONS)
    if not isinstance(text, str) or not text:
        raise _RecordError(400, "inputText must be a non-empty string.")
    if not isinstance(dimensions, int) or not 1 <= dimensions <= MAX_DIMENSIONS:
        raise _RecordError(
            400,
            f"dimensions must be an integer from 1 to "
            f"{MAX_DIMENSIONS}, got {dimensions!r}.",
        )
    tokens = count_tokens(text)
    counts.input_tokens += tokens
    return {
        "embedding": embed(text, dimensions),
        "inputTextTokenCount": tokens,
        "embedder": EMBEDDER_NAME,
    }


def _echo(model_input: dict, counts: Counts) -> dict:
    """A stable reply for non-embedding models: the input, said back."""
    text = json.dumps(model_input, ensure_ascii=False, sort_keys=True)
    reply = f"echo: {text}"
    counts.input_tokens += count_tokens(text)
    counts.output_tokens += count_tokens(reply)
    return {"outputText": reply, "note": f"{EMBEDDER_NAME}: {EMBEDDER_NOTE}"}
