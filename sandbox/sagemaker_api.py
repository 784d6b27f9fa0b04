"""SageMaker batch transform's stand-in, spoken as AWS JSON 1.1.

Every call is ``POST /`` with ``X-Amz-Target: SageMaker.<Operation>``. Jobs
move InProgress -> Completed (or Failed) on the sandbox clock, and
Stopping -> Stopped after StopTransformJob; the transform itself runs once,
the first time a job is read after its InProgress time is up.
"""

import base64
import json
import logging
import threading
import time
from dataclasses import dataclass, field

from flask import Blueprint, Response, request

from sandbox import sagemaker_validation as validation
from sandbox.aws_support import (
    ACCOUNT_ID,
    AwsError,
    S3Missing,
    epoch,
    region_of,
    s3_store,
)
from sandbox.sagemaker_transform import TransformFailed, run

log = logging.getLogger(__name__)

PROVIDER = "sagemaker"
TARGET_PREFIX = "SageMaker."
CONTENT_TYPE = "application/x-amz-json-1.1"
FINAL_STATUSES = ("Completed", "Failed", "Stopped")
LIST_SORT_KEYS = {
    "CreationTime": lambda job: job.created_at,
    "Name": lambda job: job.name,
    "Status": lambda job: job.status,
}


@dataclass
class TransformJob:
    request: dict
    arn: str
    created_at: float
    fail_outcome: bool = False
    status: str = "InProgress"
    failure_reason: str | None = None
    end_at: float | None = None
    stop_at: float | None = None
    modified_at: float = 0.0
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def name(self) -> str:
        return self.request["TransformJobName"]


@dataclass
class SageMakerState:
    models: dict = field(default_factory=dict)
    jobs: dict[str, TransformJob] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def reset(app) -> None:
    app.extensions[PROVIDER] = SageMakerState()


def make_blueprint(app) -> Blueprint:
    reset(app)
    blueprint = Blueprint("sagemaker", __name__)

    @blueprint.post("/")
    def dispatch():
        target = request.headers.get("X-Amz-Target", "")
        operation = target.removeprefix(TARGET_PREFIX)
        try:
            handler = OPERATIONS.get(operation) if target != operation else None
            if handler is None:
                raise AwsError(
                    "UnknownOperationException", f"Unknown operation {target!r}"
                )
            body = request.get_json(force=True, silent=True)
            if not isinstance(body, dict):
                raise AwsError("SerializationException", "Body must be a JSON object")
            answer = _answer(app, operation, handler, body)
        except AwsError as exc:
            return _error(exc)
        return Response(json.dumps(answer), content_type=CONTENT_TYPE)

    return blueprint


def _answer(app, operation: str, handler, body: dict) -> dict:
    """Count the call, apply any fault for it, then run it."""
    faults = app.extensions["faults"]
    faults.record_call(PROVIDER, operation)
    fault = faults.take(PROVIDER, operation, kinds=("throttle", "error", "slow"))
    if fault is not None and fault.kind == "throttle":
        # Case 6: SageMaker throttles with HTTP 400 and, at times, no message.
        raise AwsError(fault.code or "ThrottlingException", fault.message, 400)
    if fault is not None and fault.kind == "error":
        raise AwsError(
            fault.code or "InternalFailure",
            fault.message or "An internal error occurred.",
            fault.status,
        )
    if fault is not None and fault.phase == "before":
        time.sleep(fault.delay_s)
    answer = handler(app, body)
    if fault is not None and fault.phase == "after":
        time.sleep(fault.delay_s)
    return answer


def _error(exc: AwsError) -> Response:
    body = {"__type": exc.code, "Message": exc.message}
    return Response(json.dumps(body), status=exc.status, content_type=CONTENT_TYPE)


def _state(app) -> SageMakerState:
    return app.extensions[PROVIDER]


def _arn(kind: str, name: str) -> str:
    region = region_of(request.headers)
    return f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:{kind}/{name.lower()}"


# --- models ---------------------------------------------------------------


def create_model(app, body: dict) -> dict:
    validation.check_model(body)
    arn = _arn("model", body["ModelName"])
    state = _state(app)
    with state.lock:
        if body["ModelName"] in state.models:
            raise AwsError(
                "ValidationException", f'Cannot create already existing model "{arn}".'
            )
        state.models[body["ModelName"]] = {
            **body,
            "ModelArn": arn,
            "CreationTime": epoch(time.time()),
        }
    return {"ModelArn": arn}


def describe_model(app, body: dict) -> dict:
    state = _state(app)
    with state.lock:
        model = state.models.get(body.get("ModelName"))
    if model is None:
        arn = _arn("model", str(body.get("ModelName")))
        raise AwsError("ValidationException", f'Could not find model "{arn}".')
    return {key: value for key, value in model.items() if key != "Tags"}


# --- transform jobs -------------------------------------------------------


def create_transform_job(app, body: dict) -> dict:
    validation.check_transform_job(body)
    state = _state(app)
    name = body["TransformJobName"]
    with state.lock:
        if body["ModelName"] not in state.models:
            arn = _arn("model", body["ModelName"])
            raise AwsError("ValidationException", f'Could not find model "{arn}".')
        if name in state.jobs:
            raise AwsError(
                "ResourceInUse",
                "Transform job names must be unique within an AWS account and "
                "region, and a transform job with this name already exists "
                f"({state.jobs[name].arn})",
            )
        outcome = app.extensions["faults"].take(PROVIDER, "outcome", kinds=("fail",))
        now = app.extensions["clock"].now()
        job = TransformJob(
            dict(body),
            _arn("transform-job", name),
            now,
            fail_outcome=outcome is not None,
            modified_at=now,
        )
        state.jobs[name] = job
    log.info("sagemaker: transform job %s created", name)
    return {"TransformJobArn": job.arn}


def _job(app, name) -> TransformJob:
    state = _state(app)
    with state.lock:
        job = state.jobs.get(name)
    if job is None:
        # SageMaker answers an unknown name with ValidationException, not the
        # modelled ResourceNotFound (boto3's own waiter relies on this).
        arn = _arn("transform-job", str(name))
        raise AwsError("ValidationException", f"Could not find transform job '{arn}'.")
    _advance(app, job)
    return job


def _advance(app, job: TransformJob) -> None:
    """Bring the job's status up to the clock; run the transform once."""
    clock = app.extensions["clock"]
    now = clock.now()
    with job.lock:
        if job.status in FINAL_STATUSES:
            return
        if job.stop_at is not None:
            stopped_at = job.stop_at + clock.duration(PROVIDER, "stopping")
            if now >= stopped_at:
                _finish(job, "Stopped", stopped_at)
            return
        done_at = job.created_at + clock.duration(PROVIDER, "in_progress")
        if now < done_at:
            return
        if job.fail_outcome:
            _finish(
                job,
                "Failed",
                done_at,
                "ClientError: the sandbox was told to fail this job",
            )
            return
        status, reason = _transform(app, job)
        _finish(job, status, done_at, reason)


def _transform(app, job: TransformJob) -> tuple[str, str | None]:
    store = s3_store(app)
    try:
        outputs = run(store, job.request)
        for bucket, key, data in outputs:
            store.write(bucket, key, data)
    except (TransformFailed, S3Missing) as exc:
        log.info("sagemaker: transform job %s failed: %s", job.name, exc)
        return "Failed", str(exc)[:1024]
    log.info("sagemaker: transform job %s wrote %d objects", job.name, len(outputs))
    return "Completed", None


def _finish(job: TransformJob, status: str, at: float, reason=None) -> None:
    job.status, job.end_at, job.modified_at = status, at, at
    job.failure_reason = reason


def describe_transform_job(app, body: dict) -> dict:
    job = _job(app, body.get("TransformJobName"))
    with job.lock:
        described = {key: value for key, value in job.request.items() if key != "Tags"}
        described.update(
            TransformJobArn=job.arn,
            TransformJobStatus=job.status,
            CreationTime=epoch(job.created_at),
            TransformStartTime=epoch(job.created_at),
        )
        if job.end_at is not None:
            described["TransformEndTime"] = epoch(job.end_at)
        if job.failure_reason:
            described["FailureReason"] = job.failure_reason
    return described


def stop_transform_job(app, body: dict) -> dict:
    job = _job(app, body.get("TransformJobName"))
    with job.lock:
        if job.status in FINAL_STATUSES:
            raise AwsError(
                "ValidationException",
                f"Transform job '{job.arn}' is in status {job.status} and "
                "cannot be stopped.",
            )
        if job.stop_at is None:
            job.stop_at = job.modified_at = app.extensions["clock"].now()
            job.status = "Stopping"
    return {}


def list_transform_jobs(app, body: dict) -> dict:
    limit = body.get("MaxResults", 10)
    if not isinstance(limit, int) or not 1 <= limit <= 100:
        raise AwsError(
            "ValidationException",
            f"1 validation error detected: Value '{limit}' at "
            "'maxResults' failed to satisfy constraint: Member must "
            "have value between 1 and 100",
        )
    state = _state(app)
    with state.lock:
        jobs = list(state.jobs.values())
    for job in jobs:
        _advance(app, job)
    jobs = [job for job in jobs if _listed(job, body)]
    sort_key = LIST_SORT_KEYS.get(body.get("SortBy", "CreationTime"))
    if sort_key is None:
        raise AwsError(
            "ValidationException",
            f"SortBy must be Name, CreationTime or Status, got {body.get('SortBy')!r}",
        )
    jobs.sort(key=sort_key, reverse=body.get("SortOrder", "Descending") != "Ascending")
    start = _offset(body.get("NextToken"))
    page = jobs[start : start + limit]
    answer = {"TransformJobSummaries": [_summary(job) for job in page]}
    if start + limit < len(jobs):
        answer["NextToken"] = base64.urlsafe_b64encode(
            str(start + limit).encode()
        ).decode()
    return answer


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError as exc:
        raise AwsError("ValidationException", "Invalid pagination token") from exc


def _listed(job: TransformJob, body: dict) -> bool:
    if body.get("StatusEquals") and job.status != body["StatusEquals"]:
        return False
    if body.get("NameContains", "").lower() not in job.name.lower():
        return False
    bounds = (
        ("CreationTimeAfter", job.created_at, 1),
        ("CreationTimeBefore", job.created_at, -1),
        ("LastModifiedTimeAfter", job.modified_at, 1),
        ("LastModifiedTimeBefore", job.modified_at, -1),
    )
    for field_name, moment, sign in bounds:
        bound = body.get(field_name)
        if bound is not None and (moment - float(bound)) * sign <= 0:
            return False
    return True


def _summary(job: TransformJob) -> dict:
    summary = {
        "TransformJobName": job.name,
        "TransformJobArn": job.arn,
        "CreationTime": epoch(job.created_at),
        "LastModifiedTime": epoch(job.modified_at),
        "TransformJobStatus": job.status,
    }
    if job.end_at is not None:
        summary["TransformEndTime"] = epoch(job.end_at)
    if job.failure_reason:
        summary["FailureReason"] = job.failure_reason
    return summary


def list_tags(app, body: dict) -> dict:
    arn = body.get("ResourceArn")
    state = _state(app)
    with state.lock:
        tagged = [job.request for job in state.jobs.values() if job.arn == arn]
        tagged += [model for model in state.models.values() if model["ModelArn"] == arn]
    if not tagged:
        raise AwsError("ValidationException", f"Could not find resource '{arn}'.")
    return {"Tags": list(tagged[0].get("Tags") or [])}


OPERATIONS = {
    "CreateModel": create_model,
    "DescribeModel": describe_model,
    "CreateTransformJob": create_transform_job,
    "DescribeTransformJob": describe_transform_job,
    "StopTransformJob": stop_transform_job,
    "ListTransformJobs": list_transform_jobs,
    "ListTags": list_tags,
}
