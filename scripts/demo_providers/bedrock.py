"""The demo's Bedrock side: JSONL records in S3, a batch inference job, and
the ``.jsonl.out`` files Bedrock writes under ``<output>/<job id>/``.

The connector body is the one ML Commons' own tests use for Bedrock batch
(there is no published blueprint).
"""

import json

import boto3
from botocore.config import Config

from scripts.demo_providers import DemoEnv

REGION = "us-east-1"
MODEL = "amazon.titan-embed-text-v2:0"
#: Dummy keys: the sandbox and moto accept any, and no real account is used.
DEMO_CREDENTIAL = {"access_key": "AKIDSANDBOXDEMO", "secret_key": "sandbox-demo"}
ROLE_ARN = "arn:aws:iam::111122223333:role/bedrock-batch-demo"

_REQUEST_BODY = (
    '{"inputDataConfig":{"s3InputDataConfig":{"s3Uri":"${parameters.input_s3Uri}"}},'
    '"jobName":"${parameters.job_name}","modelId":"${parameters.model}",'
    '"outputDataConfig":{"s3OutputDataConfig":{"s3Uri":"${parameters.output_s3Uri}"}},'
    '"roleArn":"${parameters.role_arn}"}'
)


def _s3(env: DemoEnv):
    return boto3.client(
        "s3",
        endpoint_url=env.s3_endpoint_url,
        region_name=REGION,
        aws_access_key_id=DEMO_CREDENTIAL["access_key"],
        aws_secret_access_key=DEMO_CREDENTIAL["secret_key"],
        config=Config(retries={"total_max_attempts": 3}),
    )


def prepare(records: list[tuple[str, str]], env: DemoEnv) -> tuple[dict, dict]:
    """Upload ``records`` as Bedrock batch JSONL; return connector and parameters."""
    bucket = f"batchpredict-demo-{env.run_id}-bedrock"
    s3 = _s3(env)
    s3.create_bucket(Bucket=bucket)
    lines = [
        json.dumps(
            {"recordId": record_id, "modelInput": {"inputText": text}},
            ensure_ascii=False,
        )
        for record_id, text in records
    ]
    s3.put_object(
        Bucket=bucket,
        Key="bedrock/input/records.jsonl",
        Body=("\n".join(lines) + "\n").encode("utf-8"),
    )
    connector = {
        "name": "Bedrock Titan embedding model for offline batch",
        "description": "Bedrock batch inference, shaped as ML Commons' tests use it",
        "version": "1",
        "protocol": "aws_sigv4",
        "credential": dict(DEMO_CREDENTIAL),
        "parameters": {
            "region": REGION,
            "service_name": "bedrock",
            "model": MODEL,
            "role_arn": ROLE_ARN,
            "input_s3Uri": f"s3://{bucket}/bedrock/input/",
            "output_s3Uri": f"s3://{bucket}/bedrock/output/",
        },
        "actions": [
            {
                "action_type": "batch_predict",
                "method": "POST",
                "url": f"https://bedrock.{REGION}.amazonaws.com/model-invocation-job",
                "request_body": _REQUEST_BODY,
            }
        ],
    }
    return connector, {"job_name": f"demo-{env.run_id}"}


def collect(task: dict, env: DemoEnv) -> tuple[dict[str, list[float]], str]:
    """Read the job's ``.jsonl.out`` files; the manifest is not a record file."""
    job = task["remote_job"]
    output = job["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
    bucket, _, prefix = output.removeprefix("s3://").partition("/")
    prefix = f"{prefix.rstrip('/')}/{job['jobArn'].rsplit('/', 1)[1]}/"
    s3 = _s3(env)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    vectors, embedder = {}, "unknown"
    for key in (k for k in keys if k.endswith(".jsonl.out")):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        for line in body.splitlines():
            row = json.loads(line)
            if "error" in row:
                raise RuntimeError(f"record {row['recordId']} failed: {row['error']}")
            if row["recordId"] in vectors:
                raise RuntimeError(f"record {row['recordId']} came back twice")
            vectors[row["recordId"]] = row["modelOutput"]["embedding"]
            embedder = row["modelOutput"].get("embedder", embedder)
    return vectors, embedder
