"""Bedrock batch inference's stand-in, spoken as AWS rest-json.

Jobs move Submitted -> Validating -> Scheduled -> InProgress -> Completed on
the sandbox clock (PartiallyCompleted, Failed or Expired when a fault says
so or the input is bad), and Stopping -> Stopped after a stop. The input is
checked once when validation ends, and the records run once when the
InProgress time is up, both on the first read after that moment.
"""

import functools
import json
import logging
import secrets
import string
import threading
import time
from dataclasses import dataclass, field

from flask import Blueprint, Response, request

from sandbox import bedrock_records as records
from sandbox.aws_support import (
    ACCOUNT_ID,
    AwsError,
    S3Missing,
    iso,
    region_of,
    s3_store,
)
from sandbox.bedrock_validation import check_create, check_identifier, list_query

log = logging.getLogger(__name__)

PROVIDER = "bedrock"
FINAL_STATUSES = ("Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired")
DEFAULT_TIMEOUT_H = 168
_ID_ALPHABET = string.ascii_lowercase + string.digits


@dataclass
class InvocationJob:
    job_id: str
    arn: str
    request: dict
    submitted_at: float
    outcome: object = None  # the outcome Fault taken at create, if any
    status: str = "Submitted"
    message: str | None = None
    end_at: float | None = None
    stop_at: float | None = None
    modified_at: float = 0.0
    counts: records.Counts | None = None
    files: list | None = None  # the input, read once when validation ends
    lock: threading.RLock = field(default_factory=threading.RLock)


@dataclass
class BedrockState:
    jobs: dict[str, InvocationJob] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> job id
    lock: threading.Lock = field(default_factory=threading.Lock)


def reset(app) -> None:
    app.extensions[PROVIDER] = BedrockState()


def make_blueprint(app) -> Blueprint:
    reset(app)
    blueprint = Blueprint("bedrock", __name__)
    operation = functools.partial(_operation, app)
    blueprint.post("/model-invocation-job")(
        operation("CreateModelInvocationJob", create_job)
    )
    # <path:...> because Werkzeug has already decoded an ARN's %2F into "/".
    blueprint.get("/model-invocation-job/<path:identifier>")(
        operation("GetModelInvocationJob", get_job)
    )
    blueprint.post("/model-invocation-job/<path:identifier>/stop")(
        operation("StopModelInvocationJob", stop_job)
    )
    blueprint.get("/model-invocation-jobs")(
        operation("ListModelInvocationJobs", list_jobs)
    )
    return blueprint


def _operation(app, name: str, handler):
    """Wrap a handler: count the call, apply faults, render AWS errors."""

    def view(**path):
        faults = app.extensions["faults"]
        faults.record_call(PROVIDER, name)
        try:
            fault = faults.take(PROVIDER, name, kinds=("throttle", "error", "slow"))
            _raise_fault(fault)
            if fault is not None and fault.phase == "before":
                time.sleep(fault.delay_s)
            answer = handler(app, **path)
            if fault is not None and fault.phase == "after":
                time.sleep(fault.delay_s)
        except AwsError as exc:
            return _error(exc, fault)
        return Response(json.dumps(answer), content_type="application/json")

    view.__name__ = name
    return view


def _raise_fault(fault) -> None:
    if fault is not None and fault.kind == "throttle":
        raise AwsError(
            fault.code or "ThrottlingException",
            fault.message or "Too many requests, please wait before trying again.",
            429,
        )
    if fault is not None and fault.kind == "error":
        raise AwsError(
            fault.code or "InternalServerException",
            fault.message or "An internal server error occurred.",
            fault.status,
        )


def _error(exc: AwsError, fault) -> Response:
    response = Response(
        json.dumps({"message": exc.message}),
        status=exc.status,
        content_type="application/json",
    )
    response.headers["x-amzn-ErrorType"] = exc.code
    if fault is not None and fault.kind == "throttle" and fault.retry_after_s:
        response.headers["Retry-After"] = str(fault.retry_after_s)
    return response


def _state(app) -> BedrockState:
    return app.extensions[PROVIDER]


def create_job(app) -> dict:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise AwsError("ValidationException", "The request body must be a JSON object.")
    check_create(body)
    state = _state(app)
    token = body.get("clientRequestToken")
    with state.lock:
        if token and token in state.tokens:
            # Idempotency: the same token gets the job the first call made.
            return {"jobArn": state.jobs[state.tokens[token]].arn}
        if any(
            job.request["jobName"] == body["jobName"] for job in state.jobs.values()
        ):
            raise AwsError(
                "ValidationException",
                f"A model invocation job named {body['jobName']} "
                "already exists in this account and Region.",
            )
        job = _new_job(app, body)
        state.jobs[job.job_id] = job
        if token:
            state.tokens[token] = job.job_id
    log.info("bedrock: job %s (%s) submitted", job.job_id, body["jobName"])
    return {"jobArn": job.arn}


def _new_job(app, body: dict) -> InvocationJob:
    job_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))
    region = region_of(request.headers)
    arn = f"arn:aws:bedrock:{region}:{ACCOUNT_ID}:model-invocation-job/{job_id}"
    outcome = app.extensions["faults"].take(
        PROVIDER, "outcome", kinds=("fail", "expire", "partial")
    )
    now = app.extensions["clock"].now()
    return InvocationJob(job_id, arn, dict(body), now, outcome=outcome, modified_at=now)


def _job(app, identifier: str) -> InvocationJob:
    check_identifier(identifier)
    job_id = identifier.rsplit("/", 1)[-1]
    with _state(app).lock:
        job = _state(app).jobs.get(job_id)
    if job is None or (identifier != job_id and identifier != job.arn):
        raise AwsError(
            "ResourceNotFoundException",
            f"The model invocation job {identifier} could not be found.",
            404,
        )
    _advance(app, job)
    return job


def get_job(app, identifier: str) -> dict:
    job = _job(app, identifier)
    with job.lock:
        return _describe(job)


def stop_job(app, identifier: str) -> dict:
    job = _job(app, identifier)
    with job.lock:
        if job.status in FINAL_STATUSES:
            raise AwsError(
                "ConflictException",
                f"The job is in status {job.status} and cannot be stopped.",
            )
        if job.stop_at is None:
            job.stop_at = job.modified_at = app.extensions["clock"].now()
            job.status = "Stopping"
    return {}


def list_jobs(app) -> dict:
    query = list_query(request.args)
    with _state(app).lock:
        jobs = list(_state(app).jobs.values())
    for job in jobs:
        _advance(app, job)
    jobs = [job for job in jobs if _listed(job, query)]
    jobs.sort(
        key=lambda job: job.submitted_at, reverse=query["sortOrder"] == "Descending"
    )
    start, limit = query["start"], query["maxResults"]
    answer = {
        "invocationJobSummaries": [
            _describe(job) for job in jobs[start : start + limit]
        ]
    }
    if start + limit < len(jobs):
        answer["nextToken"] = str(start + limit)
    return answer


def _listed(job: InvocationJob, query: dict) -> bool:
    if query["statusEquals"] and job.status != query["statusEquals"]:
        return False
    if query["nameContains"].lower() not in job.request["jobName"].lower():
        return False
    after, before = query["submitTimeAfter"], query["submitTimeBefore"]
    return (after is None or job.submitted_at > after) and (
        before is None or job.submitted_at < before
    )


def _describe(job: InvocationJob) -> dict:
    hours = job.request.get("timeoutDurationInHours", DEFAULT_TIMEOUT_H)
    described = {
        key: job.request[key]
        for key in (
            "jobName",
            "modelId",
            "clientRequestToken",
            "roleArn",
            "inputDataConfig",
            "outputDataConfig",
            "vpcConfig",
            "modelInvocationType",
        )
        if key in job.request
    }
    described.update(
        jobArn=job.arn,
        status=job.status,
        submitTime=iso(job.submitted_at),
        lastModifiedTime=iso(job.modified_at),
        timeoutDurationInHours=hours,
        jobExpirationTime=iso(job.submitted_at + hours * 3600),
    )
    if job.end_at is not None:
        described["endTime"] = iso(job.end_at)
    if job.message:
        described["message"] = job.message
    if job.counts is not None:
        described.update(
            {k: v for k, v in job.counts.as_manifest().items() if "Token" not in k}
        )
    return described


def _advance(app, job: InvocationJob) -> None:
    """Bring the job's status up to the clock, doing each step's work once."""
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
        moment = job.submitted_at
        for status, phase in (("Submitted", "submitted"), ("Validating", "validating")):
            if now < moment + clock.duration(PROVIDER, phase):
                return _move(job, status, moment)
            moment += clock.duration(PROVIDER, phase)
        if not _validated(app, job, moment):
            return
        if now < moment + clock.duration(PROVIDER, "scheduled"):
            return _move(job, "Scheduled", moment)
        moment += clock.duration(PROVIDER, "scheduled")
        if job.outcome is not None and job.outcome.kind == "expire":
            return _finish(
                job,
                "Expired",
                moment,
                "The job was not started before its timeout and has expired.",
            )
        if now < moment + clock.duration(PROVIDER, "in_progress"):
            return _move(job, "InProgress", moment)
        _complete(app, job, moment + clock.duration(PROVIDER, "in_progress"))


def _move(job: InvocationJob, status: str, since: float) -> None:
    if job.status != status:
        job.status, job.modified_at = status, max(job.modified_at, since)


def _validated(app, job: InvocationJob, at: float) -> bool:
    """Read the input once validation ends; fail the job if it is unusable."""
    if job.files is not None:
        return True
    uri = job.request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
    try:
        job.files = records.read_input(s3_store(app), uri)
    except records.InputInvalid as exc:
        _finish(job, "Failed", at, str(exc))
        return False
    job.counts = records.Counts(total=sum(len(f.records) for f in job.files))
    return True


def _complete(app, job: InvocationJob, at: float) -> None:
    if job.outcome is not None and job.outcome.kind == "fail":
        return _finish(
            job,
            "Failed",
            at,
            job.outcome.message or "The sandbox was told to fail this job.",
        )
    partial = job.outcome is not None and job.outcome.kind == "partial"
    output_uri = job.request["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
    objects, counts = records.run(
        job.files, job.job_id, output_uri, job.outcome.succeed if partial else None
    )
    try:
        for bucket, key, data in objects:
            s3_store(app).write(bucket, key, data)
    except S3Missing as exc:
        return _finish(job, "Failed", at, f"Unable to write the output: {exc}.")
    job.counts = counts
    _finish(job, "PartiallyCompleted" if partial else "Completed", at)
    log.info(
        "bedrock: job %s ended %s (%d of %d records succeeded)",
        job.job_id,
        job.status,
        counts.success,
        counts.total,
    )


def _finish(job: InvocationJob, status: str, at: float, message=None) -> None:
    job.status, job.end_at, job.modified_at = status, at, at
    job.message = message
