"""What the two AWS stand-ins (SageMaker, Bedrock) share.

Both read their input from and write their output to moto's S3 with boto3,
name the caller's region from the SigV4 credential scope, and answer with
AWS errors; each renders :class:`AwsError` in its own protocol's shape.
"""

import datetime as dt
import re
import threading
from dataclasses import dataclass

import boto3
from botocore.config import Config

#: The account every sandbox ARN is made in (AWS's documentation account).
ACCOUNT_ID = "111122223333"
DEFAULT_REGION = "us-east-1"

# Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sagemaker/...
_SCOPE_REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?$")


class AwsError(Exception):
    """An AWS error answer: its code, its message and its HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class S3Missing(Exception):
    """A bucket or key the job names does not exist."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str  # may be "" for a whole bucket, or a prefix

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(uri: str) -> S3Location | None:
    """``s3://bucket/key`` as a location, or None when it is not one."""
    match = _S3_URI.match(uri or "")
    if match is None:
        return None
    return S3Location(match.group(1), match.group(2) or "")


def region_of(headers) -> str:
    """The region the caller signed for, as AWS reads it from the scope."""
    match = _SCOPE_REGION.search(headers.get("Authorization", ""))
    return match.group(1) if match else DEFAULT_REGION


def epoch(moment: float) -> float:
    return round(moment, 3)


def iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    stamp = dt.datetime.fromtimestamp(moment, tz=dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class S3Store:
    """S3 through moto, with a client made once per sandbox process."""

    def __init__(self, endpoint_url: str | None):
        self._endpoint_url = endpoint_url
        self._client = None
        self._lock = threading.Lock()

    def _s3(self):
        if self._endpoint_url is None:
            raise S3Missing("the sandbox was started without --s3-endpoint-url")
        with self._lock:
            if self._client is None:
                # Dummy keys: moto accepts any, and no real account is reachable.
                self._client = boto3.client(
                    "s3",
                    endpoint_url=self._endpoint_url,
                    region_name=DEFAULT_REGION,
                    aws_access_key_id="sandbox",
                    aws_secret_access_key="sandbox",
                    config=Config(retries={"max_attempts": 2}),
                )
            return self._client

    def keys_under(self, location: S3Location) -> list[str]:
        """Every object key starting with the location's key, in key order."""
        s3 = self._s3()
        keys = []
        try:
            pages = s3.get_paginator("list_objects_v2").paginate(
                Bucket=location.bucket, Prefix=location.key
            )
            for page in pages:
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except s3.exceptions.NoSuchBucket as exc:
            raise S3Missing(f"bucket {location.bucket} does not exist") from exc
        return sorted(key for key in keys if not key.endswith("/"))

    def read(self, bucket: str, key: str) -> bytes:
        s3 = self._s3()
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (s3.exceptions.NoSuchKey, s3.exceptions.NoSuchBucket) as exc:
            raise S3Missing(f"s3://{bucket}/{key} does not exist") from exc

    def write(self, bucket: str, key: str, data: bytes) -> None:
        s3 = self._s3()
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=data)
        except s3.exceptions.NoSuchBucket as exc:
            raise S3Missing(f"bucket {bucket} does not exist") from exc


def join_key(prefix: str, name: str) -> str:
    """``prefix`` and ``name`` joined by exactly one slash."""
    if not prefix:
        return name
    return prefix.rstrip("/") + "/" + name


def s3_store(app) -> S3Store:
    """The app's one S3 store, made on first use."""
    return app.extensions.setdefault(
        "aws_s3", S3Store(app.config.get("S3_ENDPOINT_URL"))
    )
