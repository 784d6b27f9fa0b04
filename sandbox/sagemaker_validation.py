"""SageMaker's server-side checks of CreateModel and CreateTransformJob.

boto3 checks only required keys and types before sending, so names, enums
and ranges are the server's business; the messages follow SageMaker's
"N validation errors detected: Value ... at ... failed to satisfy
constraint: ..." form.
"""

import re

from sandbox.aws_support import AwsError, parse_s3_uri
from sandbox.sagemaker_transform import parse_path

JOB_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
MODEL_NAME_PATTERN = r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?"
NAME_MAX_LENGTH = 63
FILTER_MAX_LENGTH = 63
_ENUMS = {
    "S3DataType": ("S3Prefix", "ManifestFile", "AugmentedManifestFile", "Converse"),
    "SplitType": ("None", "Line", "RecordIO", "TFRecord"),
    "CompressionType": ("None", "Gzip"),
    "AssembleWith": ("None", "Line"),
    "BatchStrategy": ("MultiRecord", "SingleRecord"),
    "JoinSource": ("Input", "None"),
}


class _Problems:
    """Collects constraint failures under their camel-cased wire path."""

    def __init__(self):
        self.items: list[str] = []

    def add(self, path: str, value, constraint: str) -> None:
        shown = "null" if value is None else f"'{value}'"
        self.items.append(
            f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}"
        )

    def name(self, path: str, value, pattern: str) -> None:
        if value is None:
            self.add(path, value, "Member must not be null")
            return
        if len(str(value)) > NAME_MAX_LENGTH:
            self.add(path, value, "Member must have length less than or equal to 63")
        if not re.fullmatch(pattern.lstrip("^"), str(value)):
            self.add(
                path,
                value,
                f"Member must satisfy regular expression pattern: {pattern}",
            )

    def enum(self, path: str, value, field: str) -> None:
        if value is not None and value not in _ENUMS[field]:
            allowed = ", ".join(_ENUMS[field])
            self.add(path, value, f"Member must satisfy enum value set: [{allowed}]")

    def s3_uri(self, path: str, value) -> None:
        if value is None:
            self.add(path, value, "Member must not be null")
        elif parse_s3_uri(str(value)) is None:
            self.add(path, value, "Member must be an s3:// URI the sandbox can reach")

    def raise_any(self) -> None:
        if not self.items:
            return
        count = len(self.items)
        noun = "error" if count == 1 else "errors"
        raise AwsError(
            "ValidationException",
            f"{count} validation {noun} detected: " + "; ".join(self.items),
        )


def check_model(body: dict) -> None:
    problems = _Problems()
    problems.name("modelName", body.get("ModelName"), MODEL_NAME_PATTERN)
    problems.raise_any()


def check_transform_job(body: dict) -> None:
    """Raise ValidationException listing every problem of a create request."""
    problems = _Problems()
    problems.name("transformJobName", body.get("TransformJobName"), JOB_NAME_PATTERN)
    problems.name("modelName", body.get("ModelName"), MODEL_NAME_PATTERN)
    _check_input(problems, body.get("TransformInput"))
    _check_output(problems, body.get("TransformOutput"))
    _check_resources(problems, body.get("TransformResources"))
    _check_processing(problems, body.get("DataProcessing") or {})
    _check_limits(problems, body)
    problems.raise_any()


def _check_input(problems: _Problems, transform_input) -> None:
    source = ((transform_input or {}).get("DataSource") or {}).get("S3DataSource")
    if not isinstance(source, dict):
        problems.add(
            "transformInput.dataSource.s3DataSource", None, "Member must not be null"
        )
        return
    problems.enum(
        "transformInput.dataSource.s3DataSource.s3DataType",
        source.get("S3DataType"),
        "S3DataType",
    )
    problems.s3_uri("transformInput.dataSource.s3DataSource.s3Uri", source.get("S3Uri"))
    problems.enum(
        "transformInput.splitType", transform_input.get("SplitType"), "SplitType"
    )
    problems.enum(
        "transformInput.compressionType",
        transform_input.get("CompressionType"),
        "CompressionType",
    )


def _check_output(problems: _Problems, transform_output) -> None:
    if not isinstance(transform_output, dict):
        problems.add("transformOutput", None, "Member must not be null")
        return
    problems.s3_uri(
        "transformOutput.s3OutputPath", transform_output.get("S3OutputPath")
    )
    problems.enum(
        "transformOutput.assembleWith",
        transform_output.get("AssembleWith"),
        "AssembleWith",
    )


def _check_resources(problems: _Problems, resources) -> None:
    if not isinstance(resources, dict):
        problems.add("transformResources", None, "Member must not be null")
        return
    instance_type = resources.get("InstanceType")
    if not str(instance_type or "").startswith("ml."):
        problems.add(
            "transformResources.instanceType",
            instance_type,
            "Member must be an ml.* instance type",
        )
    count = resources.get("InstanceCount")
    if not isinstance(count, int) or count < 1:
        problems.add(
            "transformResources.instanceCount",
            count,
            "Member must have value greater than or equal to 1",
        )


def _check_processing(problems: _Problems, processing: dict) -> None:
    for field, wire in (
        ("InputFilter", "inputFilter"),
        ("OutputFilter", "outputFilter"),
    ):
        path = processing.get(field)
        if path is None:
            continue
        if len(path) > FILTER_MAX_LENGTH:
            problems.add(
                f"dataProcessing.{wire}",
                path,
                "Member must have length less than or equal to 63",
            )
        try:
            parse_path(path)
        except ValueError as exc:
            problems.add(
                f"dataProcessing.{wire}",
                path,
                f"Member must be a JSONPath expression ({exc})",
            )
    problems.enum(
        "dataProcessing.joinSource", processing.get("JoinSource"), "JoinSource"
    )


def _check_limits(problems: _Problems, body: dict) -> None:
    problems.enum("batchStrategy", body.get("BatchStrategy"), "BatchStrategy")
    split = (body.get("TransformInput") or {}).get("SplitType", "None")
    if body.get("BatchStrategy") == "MultiRecord" and split == "None":
        problems.add(
            "batchStrategy",
            "MultiRecord",
            "MultiRecord needs a SplitType of Line, RecordIO or TFRecord",
        )
    payload = body.get("MaxPayloadInMB", 6)
    if not isinstance(payload, int) or not 0 <= payload <= 100:
        problems.add(
            "maxPayloadInMB", payload, "Member must have value between 0 and 100"
        )
    concurrency = body.get("MaxConcurrentTransforms", 1) or 1
    if isinstance(payload, int) and concurrency * payload > 100:
        problems.add(
            "maxConcurrentTransforms",
            concurrency,
            "MaxConcurrentTransforms * MaxPayloadInMB must not exceed 100",
        )
    if len(body.get("Tags") or []) > 50:
        problems.add(
            "tags",
            len(body["Tags"]),
            "Member must have length less than or equal to 50",
        )
    if len(body.get("Environment") or {}) > 16:
        problems.add(
            "environment",
            len(body["Environment"]),
            "Member must have length less than or equal to 16",
        )
