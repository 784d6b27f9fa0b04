"""The demo's SageMaker side: JSON lines in S3, a transform job, ``.out`` back.

``prepare`` does what a user does before ML Commons' SageMaker batch
blueprint works: upload the records to S3 and create the model. The
connector is the blueprint itself, with its data processing
(``InputFilter $.content``, ``JoinSource Input``, ``OutputFilter $``).
"""

import json

import boto3
from botocore.config import Config

from scripts.demo_providers import DemoEnv

REGION = "us-east-1"
#: Dummy keys: the sandbox and moto accept any, and no real account is used.
DEMO_CREDENTIAL = {"access_key": "AKIDSANDBOXDEMO", "secret_key": "sandbox-demo"}
INSTANCE_TYPE = "ml.m5.xlarge"

_REQUEST_BODY = (
    '{ "BatchStrategy": "${parameters.BatchStrategy}", '
    '"ModelName": "${parameters.ModelName}", '
    '"DataProcessing": ${parameters.DataProcessing}, '
    '"TransformInput": ${parameters.TransformInput}, '
    '"TransformJobName": "${parameters.TransformJobName}", '
    '"TransformOutput": ${parameters.TransformOutput}, '
    '"TransformResources": ${parameters.TransformResources} }'
)


def _aws(service: str, endpoint_url: str):
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=DEMO_CREDENTIAL["access_key"],
        aws_secret_access_key=DEMO_CREDENTIAL["secret_key"],
        config=Config(retries={"total_max_attempts": 3}),
    )


def prepare(records: list[tuple[str, str]], env: DemoEnv) -> tuple[dict, dict]:
    """Upload ``records`` and create the model; return connector and parameters."""
    bucket = f"batchpredict-demo-{env.run_id}"
    s3 = _aws("s3", env.s3_endpoint_url)
    s3.create_bucket(Bucket=bucket)
    lines = [
        json.dumps({"id": record_id, "content": text}, ensure_ascii=False)
        for record_id, text in records
    ]
    s3.put_object(
        Bucket=bucket,
        Key="sagemaker/input/records.jsonl",
        Body=("\n".join(lines) + "\n").encode("utf-8"),
    )
    model_name = f"demo-minilm-{env.run_id}"
    _aws("sagemaker", env.sandbox_url).create_model(
        ModelName=model_name,
        PrimaryContainer={
            "Image": "djl-inference:0.22.1-cpu-full",
            "Environment": {
                "SERVING_LOAD_MODELS": "djl://ai.djl.huggingface."
                "pytorch/sentence-transformers/all-MiniLM-L6-v2"
            },
        },
        ExecutionRoleArn="arn:aws:iam::111122223333:role/sagemaker-demo",
    )
    connector = _connector(bucket, model_name)
    return connector, {"TransformJobName": f"demo-{env.run_id}"}


def _connector(bucket: str, model_name: str) -> dict:
    return {
        "name": "SageMaker embedding model for offline batch",
        "description": "The SageMaker batch transform blueprint, as ML Commons "
        "publishes it",
        "version": "1",
        "protocol": "aws_sigv4",
        "credential": dict(DEMO_CREDENTIAL),
        "parameters": {
            "region": REGION,
            "service_name": "sagemaker",
            "DataProcessing": {
                "InputFilter": "$.content",
                "JoinSource": "Input",
                "OutputFilter": "$",
            },
            "ModelName": model_name,
            "TransformInput": {
                "ContentType": "application/json",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{bucket}/sagemaker/input/",
                    }
                },
                "SplitType": "Line",
            },
            "TransformOutput": {
                "AssembleWith": "Line",
                "Accept": "application/json",
                "S3OutputPath": f"s3://{bucket}/sagemaker/output/",
            },
            "TransformResources": {"InstanceCount": 1, "InstanceType": INSTANCE_TYPE},
            "BatchStrategy": "SingleRecord",
        },
        "actions": [
            {
                "action_type": "batch_predict",
                "method": "POST",
                "url": f"https://api.sagemaker.{REGION}.amazonaws.com/"
                "CreateTransformJob",
                "request_body": _REQUEST_BODY,
            }
        ],
    }


def collect(task: dict, env: DemoEnv) -> tuple[dict[str, list[float]], str]:
    """Read every ``.out`` object under the job's S3OutputPath."""
    output = task["remote_job"]["TransformOutput"]["S3OutputPath"]
    bucket, _, prefix = output.removeprefix("s3://").partition("/")
    s3 = _aws("s3", env.s3_endpoint_url)
    vectors, embedder = {}, "unknown"
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    for key in (key for key in keys if key.endswith(".out")):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        for line in body.splitlines():
            row = json.loads(line)
            if row["id"] in vectors:
                raise RuntimeError(f"record {row['id']} came back twice")
            vectors[row["id"]] = row["SageMakerOutput"]["embedding"]
            embedder = row["SageMakerOutput"].get("embedder", embedder)
    return vectors, embedder
