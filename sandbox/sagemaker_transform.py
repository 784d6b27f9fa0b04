"""SageMaker batch transform's data path, done for real against moto's S3.

The stand-in's "model" is an embedding model served the way the ML Commons
blueprint's DJL container is used: each record (after ``InputFilter``) is a
text, or a JSON object holding it under ``inputs``, ``text`` or ``content``.
Records are split, filtered, joined and assembled as the transform job's
``TransformInput``, ``DataProcessing`` and ``TransformOutput`` say.
"""

import gzip
import json
import re

from sandbox.aws_support import S3Missing, S3Store, join_key, parse_s3_uri
from sandbox.embedder import EMBEDDER_NAME, embed

EMBEDDING_DIMENSIONS = 384
DEFAULT_MAX_PAYLOAD_MB = 6
#: The key SageMaker adds the prediction under when it joins the input.
JOINED_OUTPUT_KEY = "SageMakerOutput"
_TEXT_FIELDS = ("inputs", "text", "content")

_SEGMENT = re.compile(
    r"\.(?P<name>[A-Za-z_][\w-]*)"
    r"|\[(?P<index>\d+)\]"
    r"|\[(?P<keys>'[^']*'(?:\s*,\s*'[^']*')*)\]"
)


class TransformFailed(Exception):
    """The job fails; the message becomes its ``FailureReason``."""


def parse_path(path: str) -> list:
    """The JSONPath subset SageMaker filters use, as a list of steps.

    A step is a key (str), an index (int) or a tuple of keys, which selects
    those keys into a new object and must come last. Raises ValueError.
    """
    if not path.startswith("$"):
        raise ValueError("must start with $")
    steps, position = [], 1
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None or (steps and isinstance(steps[-1], tuple)):
            raise ValueError(f"cannot read {path[position:]!r}")
        if match.group("name"):
            steps.append(match.group("name"))
        elif match.group("index"):
            steps.append(int(match.group("index")))
        else:
            keys = re.findall(r"'([^']*)'", match.group("keys"))
            steps.append(keys[0] if len(keys) == 1 else tuple(keys))
        position = match.end()
    return steps


def select(value, steps: list):
    """Apply parsed steps to a JSON value; KeyError when nothing matches."""
    for step in steps:
        if isinstance(step, tuple):
            if not isinstance(value, dict):
                raise KeyError(step)
            return {key: value[key] for key in step if key in value}
        if not _has(value, step):
            raise KeyError(step)
        value = value[step]
    return value


def _has(value, step) -> bool:
    if isinstance(step, int):
        return isinstance(value, list) and step < len(value)
    return isinstance(value, dict) and step in value


def run(store: S3Store, job: dict) -> list[tuple[str, str, bytes]]:
    """Transform every input object; return ``(bucket, key, data)`` to write.

    Nothing is written here: the caller uploads only when every object
    succeeded, because SageMaker leaves no partial output of a failed job.
    """
    output = parse_s3_uri(job["TransformOutput"]["S3OutputPath"])
    results = []
    for bucket, key, relative in _input_objects(store, job["TransformInput"]):
        data = _decompress(store.read(bucket, key), job["TransformInput"], key)
        body = transform_object(data, job, key)
        results.append((output.bucket, join_key(output.key, relative + ".out"), body))
    return results


def _input_objects(store: S3Store, transform_input: dict):
    source = transform_input["DataSource"]["S3DataSource"]
    location = parse_s3_uri(source["S3Uri"])
    try:
        if source["S3DataType"] == "ManifestFile":
            return _manifest_objects(store, location)
        if source["S3DataType"] != "S3Prefix":
            raise TransformFailed(
                f"ClientError: S3DataType {source['S3DataType']} is not supported "
                "by the sandbox; use S3Prefix or ManifestFile"
            )
        keys = store.keys_under(location)
    except S3Missing as exc:
        raise TransformFailed(f"ClientError: {exc}") from exc
    if not keys:
        raise TransformFailed(f"ClientError: no objects found under {location.uri}")
    # Output keys are relative to the "folder" the prefix names.
    base = location.key[: location.key.rfind("/") + 1]
    return [(location.bucket, key, key[len(base) :]) for key in keys]


def _manifest_objects(store: S3Store, location):
    try:
        manifest = json.loads(store.read(location.bucket, location.key))
        prefix = parse_s3_uri(manifest[0]["prefix"])
        relatives = [str(name) for name in manifest[1:]]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise TransformFailed(
            f"ClientError: manifest {location.uri} must be a JSON list starting "
            '{"prefix": "s3://..."} followed by keys'
        ) from exc
    if prefix is None or not relatives:
        raise TransformFailed(f"ClientError: manifest {location.uri} names no objects")
    return [(prefix.bucket, prefix.key + name, name) for name in relatives]


def _decompress(data: bytes, transform_input: dict, key: str) -> bytes:
    if transform_input.get("CompressionType", "None") != "Gzip":
        return data
    try:
        return gzip.decompress(data)
    except OSError as exc:
        raise TransformFailed(f"ClientError: {key} is not gzip data") from exc


def transform_object(data: bytes, job: dict, key: str) -> bytes:
    """One input object's ``.out`` body."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TransformFailed(f"ClientError: {key} is not UTF-8 text") from exc
    if job["TransformInput"].get("SplitType", "None") == "Line":
        records = [line.rstrip("\r") for line in text.split("\n")]
        records = [record for record in records if record.strip()]
    else:
        records = [text]
    outputs = []
    for batch in _batches(records, job, key):
        outputs.extend(_transform_record(record, job, key) for record in batch)
    if job["TransformOutput"].get("AssembleWith", "None") == "Line":
        return "".join(output + "\n" for output in outputs).encode("utf-8")
    return "".join(outputs).encode("utf-8")


def _batches(records: list[str], job: dict, key: str):
    """Group records into invocations as ``BatchStrategy`` would."""
    limit_mb = job.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB)
    limit = limit_mb * 1024 * 1024 if limit_mb else None  # 0: chunked, no cap
    batch, size = [], 0
    for record in records:
        length = len(record.encode("utf-8"))
        if limit is not None and length > limit:
            raise TransformFailed(
                f"ClientError: a record in {key} is {length} bytes, more than "
                f"MaxPayloadInMB ({limit_mb})"
            )
        multi = job.get("BatchStrategy") == "MultiRecord"
        if batch and (not multi or (limit is not None and size + length > limit)):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += length
    if batch:
        yield batch


def _transform_record(record: str, job: dict, key: str) -> str:
    processing = job.get("DataProcessing") or {}
    try:
        parsed, is_json = json.loads(record), True
    except ValueError:
        parsed, is_json = record, False
    model_input = _filtered(parsed, is_json, processing.get("InputFilter"), key)
    prediction = _predict(model_input, key)
    if processing.get("JoinSource") == "Input":
        joined = _join(parsed, is_json, prediction)
    else:
        joined = prediction
    if isinstance(joined, str):
        return joined  # a CSV join; output filters apply to JSON only
    result = _filtered(joined, True, processing.get("OutputFilter"), key)
    return json.dumps(result, ensure_ascii=False, separators=(",", ":"))


def _filtered(value, is_json: bool, path: str | None, key: str):
    if not path or path == "$":
        return value
    if not is_json:
        raise TransformFailed(
            f"ClientError: filter {path} needs JSON records; {key} "
            "holds a record that is not JSON"
        )
    try:
        return select(value, parse_path(path))
    except KeyError as exc:
        raise TransformFailed(
            f"ClientError: filter {path} matched nothing in a record of {key}"
        ) from exc


def _predict(model_input, key: str) -> dict:
    if isinstance(model_input, dict):
        field = next((name for name in _TEXT_FIELDS if name in model_input), None)
        model_input = model_input[field] if field else None
    if isinstance(model_input, str):
        vector = embed(model_input, EMBEDDING_DIMENSIONS)
        return {"embedding": vector, "embedder": EMBEDDER_NAME}
    if isinstance(model_input, list) and all(isinstance(t, str) for t in model_input):
        vectors = [embed(text, EMBEDDING_DIMENSIONS) for text in model_input]
        return {"embeddings": vectors, "embedder": EMBEDDER_NAME}
    raise TransformFailed(
        f"ClientError: the model expects text or a JSON object with "
        f"{', '.join(_TEXT_FIELDS)}; a record of {key} gave it "
        f"{type(model_input).__name__}"
    )


def _join(parsed, is_json: bool, prediction: dict):
    """SageMaker's JoinSource=Input: the output travels with its input."""
    if is_json and isinstance(parsed, dict):
        return {**parsed, JOINED_OUTPUT_KEY: prediction}
    if is_json and isinstance(parsed, list):
        return [*parsed, prediction]
    vector = prediction.get("embedding") or prediction.get("embeddings")
    return parsed + "," + ",".join(str(value) for value in vector)
