"""The Cohere stand-in: the ``/v1/datasets`` and ``/v1/embed-jobs`` routes.

Routes speak Cohere's wire format (query-string options, the multipart
``data`` part, ``{"id", "message"}`` error bodies) so ``cohere.ClientV2``
works against the sandbox root unchanged. Dataset parts are served as Avro
under ``/_sandbox/cohere/parts/<part id>``.
"""

import functools
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field

from flask import Blueprint, Flask, jsonify, request, send_file

from sandbox import cohere_jobs
from sandbox.cohere_datasets import (
    KNOWN_TYPES,
    NAME_LIMIT_CHARS,
    Dataset,
    UploadOptions,
    build_embed_input,
    remove_parts,
)
from sandbox.cohere_datasets import to_wire as dataset_wire
from sandbox.cohere_jobs import EmbedJob, Rejected

log = logging.getLogger(__name__)

PROVIDER = "cohere"
#: How long a cancelled job stays ``cancelling`` when the clock has no phase
#: for it.
DEFAULT_CANCELLING_S = 1.0
PARTS_PATH = "/_sandbox/cohere/parts"


@dataclass
class CohereState:
    lock: threading.RLock = field(default_factory=threading.RLock)
    datasets: dict[str, Dataset] = field(default_factory=dict)
    jobs: dict[str, EmbedJob] = field(default_factory=dict)


def reset(app: Flask) -> None:
    state: CohereState = app.extensions["cohere"]
    with state.lock:
        state.datasets.clear()
        state.jobs.clear()
        shutil.rmtree(_data_dir(app), ignore_errors=True)


def _data_dir(app: Flask) -> str:
    return os.path.join(app.config["DATA_DIR"], "cohere")


def error(status: int, message: str, headers: dict | None = None):
    """Cohere's error body; the SDK reads ``message`` from it."""
    response = jsonify(id=str(uuid.uuid4()), message=message)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def make_blueprint(app: Flask) -> Blueprint:
    app.extensions["cohere"] = CohereState()
    blueprint = Blueprint("cohere", __name__)
    operation = _operation_guard(app)
    _add_dataset_routes(app, blueprint, operation)
    _add_job_routes(app, blueprint, operation)
    return blueprint


def _operation_guard(app: Flask):
    """Decorator: count the call, then apply the operation's fault, if any."""
    faults = app.extensions["faults"]

    def guard(op: str):
        def decorate(view):
            @functools.wraps(view)
            def guarded(*args, **kwargs):
                faults.record_call(PROVIDER, op)
                if not request.headers.get("Authorization", "").strip():
                    return error(401, "no api key supplied")
                fault = faults.take(PROVIDER, op, kinds=("throttle", "error", "slow"))
                if fault is None:
                    return view(*args, **kwargs)
                return _with_fault(fault, view, args, kwargs)

            return guarded

        return decorate

    return guard


def _with_fault(fault, view, args, kwargs):
    if fault.kind == "throttle":
        headers = {}
        if fault.retry_after_s is not None:
            headers["retry-after"] = f"{fault.retry_after_s:g}"
        message = fault.message or "You are past the rate limit of this endpoint."
        return error(429, message, headers)
    if fault.kind == "error":
        return error(fault.status, fault.message or "internal server error")
    if fault.phase == "before":
        time.sleep(fault.delay_s)
        return view(*args, **kwargs)
    # "after": the operation takes effect, then the answer is held back.
    response = view(*args, **kwargs)
    time.sleep(fault.delay_s)
    return response


def _parts_url() -> str:
    return request.host_url.rstrip("/") + PARTS_PATH


# --- datasets -------------------------------------------------------------


def _add_dataset_routes(app: Flask, bp: Blueprint, operation) -> None:
    state: CohereState = app.extensions["cohere"]
    clock = app.extensions["clock"]

    @bp.post("/v1/datasets")
    @operation("datasets.create")
    def create_dataset():
        try:
            name, upload, options = _read_upload()
        except ValueError as exc:
            return error(400, str(exc))
        dataset = build_embed_input(
            _data_dir(app),
            name,
            upload,
            options,
            clock.now(),
            clock.duration(PROVIDER, "validating"),
        )
        with state.lock:
            state.datasets[dataset.id] = dataset
        log.info(
            "cohere dataset %s: %d bytes uploaded, will be %s",
            dataset.id,
            len(upload[0]),
            dataset.outcome,
        )
        return jsonify(id=dataset.id)

    @bp.get("/v1/datasets")
    @operation("datasets.list")
    def list_datasets():
        with state.lock:
            datasets = sorted(state.datasets.values(), key=lambda d: -d.created_at)
        now = clock.now()
        wires = [dataset_wire(d, _parts_url(), now) for d in datasets]
        return jsonify(datasets=_filtered(wires, request.args))

    @bp.get("/v1/datasets/usage")
    @operation("datasets.usage")
    def dataset_usage():
        with state.lock:
            parts = [p for d in state.datasets.values() for p in d.parts]
        return jsonify(organization_usage=sum(p.size_bytes for p in parts))

    @bp.get("/v1/datasets/<dataset_id>")
    @operation("datasets.get")
    def get_dataset(dataset_id):
        with state.lock:
            dataset = state.datasets.get(dataset_id)
        if dataset is None:
            return _dataset_not_found(dataset_id)
        return jsonify(dataset=dataset_wire(dataset, _parts_url(), clock.now()))

    @bp.delete("/v1/datasets/<dataset_id>")
    @operation("datasets.delete")
    def delete_dataset(dataset_id):
        with state.lock:
            dataset = state.datasets.pop(dataset_id, None)
        if dataset is None:
            return _dataset_not_found(dataset_id)
        remove_parts(dataset)
        return jsonify({})

    @bp.get(f"{PARTS_PATH}/<part_id>")
    def download_part(part_id):
        # Fetched with plain ``requests`` by the SDK's dataset reader, which
        # sends no API key, like a presigned URL.
        app.extensions["faults"].record_call(PROVIDER, "datasets.parts")
        with state.lock:
            paths = [
                p.path
                for d in state.datasets.values()
                for p in d.parts
                if p.id == part_id
            ]
        if not paths or not os.path.exists(paths[0]):
            return error(404, f"The dataset part '{part_id}' was not found.")
        return send_file(
            paths[0], mimetype="application/octet-stream", conditional=False
        )


def _dataset_not_found(dataset_id: str):
    return error(404, f"The dataset with id '{dataset_id}' was not found.")


def _read_upload():
    """Options come in the query string (the SDK) or as form fields (curl)."""
    values = request.values
    name = values.get("name")
    if not name:
        raise ValueError("The name parameter must be set.")
    if len(name) >= NAME_LIMIT_CHARS:
        raise ValueError(
            f"The name parameter must be less than {NAME_LIMIT_CHARS} "
            f"characters, got {len(name)}."
        )
    dataset_type = values.get("type")
    if not dataset_type:
        raise ValueError("The type parameter must be set.")
    if dataset_type not in KNOWN_TYPES:
        raise ValueError("The dataset type is invalid.")
    if dataset_type != "embed-input":
        raise ValueError(
            f"The sandbox only accepts embed-input datasets, got {dataset_type}."
        )
    upload = request.files.get("data")
    if upload is None:
        raise ValueError("The data parameter must be set (a multipart file part).")
    return name, (upload.read(), upload.filename or ""), _upload_options(values)


def _upload_options(values) -> UploadOptions:
    delimiter = values.get("csv_delimiter") or ","
    if len(delimiter) != 1:
        raise ValueError(
            f"The csv_delimiter parameter must be a single character, "
            f"got {delimiter!r}."
        )
    return UploadOptions(
        keep_fields=_names(values.getlist("keep_fields")),
        optional_fields=_names(values.getlist("optional_fields")),
        skip_malformed_input=values.get("skip_malformed_input", "").lower() == "true",
        csv_delimiter=delimiter,
        text_separator=values.get("text_separator"),
    )


def _names(raw_values: list[str]) -> list[str]:
    names = [n.strip() for raw in raw_values for n in raw.split(",")]
    return [n for n in names if n]


def _filtered(wires: list[dict], args) -> list[dict]:
    """Apply the list endpoint's camelCase filters."""
    kind, status = args.get("datasetType"), args.get("validationStatus")
    before, after = args.get("before"), args.get("after")
    picked = [
        w
        for w in wires
        if (kind is None or w["dataset_type"] == kind)
        and (status is None or w["validation_status"] == status)
        and (before is None or w["created_at"] < _as_iso(before))
        and (after is None or w["created_at"] > _as_iso(after))
    ]
    offset = int(args.get("offset") or 0)
    limit = args.get("limit")
    end = None if limit is None else offset + int(limit)
    return picked[offset:end]


def _as_iso(value: str) -> str:
    # The SDK sends "...Z" or "+00:00"; records use the "Z" form.
    return value.replace("+00:00", "Z")


# --- embed jobs -----------------------------------------------------------


def _add_job_routes(app: Flask, bp: Blueprint, operation) -> None:
    state: CohereState = app.extensions["cohere"]
    clock = app.extensions["clock"]
    faults = app.extensions["faults"]

    def cancelling_s() -> float:
        try:
            return clock.duration(PROVIDER, "cancelling")
        except KeyError:
            return DEFAULT_CANCELLING_S

    def current(job: EmbedJob) -> dict:
        """The job's wire object now; makes the output on first completion."""
        with state.lock:
            status = job.status_at(clock.now(), cancelling_s())
            if status == "complete" and job.output_dataset_id is None:
                _finish(app, state, job)
                status = job.status_at(clock.now(), cancelling_s())
            return cohere_jobs.to_wire(job, status)

    @bp.post("/v1/embed-jobs")
    @operation("embed_jobs.create")
    def create_job():
        now = clock.now()
        with state.lock:
            try:
                args = cohere_jobs.check_create(
                    request.get_json(silent=True), state.datasets, now
                )
            except Rejected as exc:
                return error(exc.status, exc.message)
            outcome = faults.take(PROVIDER, "embed_jobs.outcome", kinds=("fail",))
            job = EmbedJob(
                job_id=cohere_jobs.new_job_id(),
                created_at=now,
                processing_s=clock.duration(PROVIDER, "processing"),
                ends_failed=outcome is not None,
                **args,
            )
            state.jobs[job.job_id] = job
        log.info(
            "cohere embed job %s: created on dataset %s",
            job.job_id,
            job.input_dataset_id,
        )
        return jsonify(job_id=job.job_id, meta={"api_version": {"version": "1"}})

    @bp.get("/v1/embed-jobs")
    @operation("embed_jobs.list")
    def list_jobs():
        with state.lock:
            jobs = sorted(state.jobs.values(), key=lambda j: -j.created_at)
        return jsonify(embed_jobs=[current(job) for job in jobs])

    @bp.get("/v1/embed-jobs/<job_id>")
    @operation("embed_jobs.get")
    def get_job(job_id):
        job = state.jobs.get(job_id)
        if job is None:
            return _job_not_found(job_id)
        return jsonify(current(job))

    @bp.post("/v1/embed-jobs/<job_id>/cancel")
    @operation("embed_jobs.cancel")
    def cancel_job(job_id):
        with state.lock:
            job = state.jobs.get(job_id)
            if job is None:
                return _job_not_found(job_id)
            status = job.status_at(clock.now(), cancelling_s())
            if status in ("complete", "failed"):
                # 400, never 409: the SDK would retry a 409.
                return error(
                    400,
                    f"The embed job '{job_id}' is already {status} "
                    f"and cannot be cancelled.",
                )
            if status == "processing":
                job.cancel_asked_at = clock.now()
        log.info("cohere embed job %s: cancel asked while %s", job_id, status)
        return "", 200


def _job_not_found(job_id: str):
    return error(404, f"The embed job with id '{job_id}' was not found.")


def _finish(app: Flask, state: CohereState, job: EmbedJob) -> None:
    source = state.datasets.get(job.input_dataset_id)
    if source is None:
        # The input was deleted while the job ran: the job still ends, empty.
        job.ends_failed = True
        job.warnings.append(f"input dataset {job.input_dataset_id} was deleted")
        return
    finished_at = job.created_at + job.processing_s
    result = cohere_jobs.build_result(job, source, _data_dir(app), finished_at)
    state.datasets[result.id] = result
    job.output_dataset_id = result.id
    log.info("cohere embed job %s: complete, output dataset %s", job.job_id, result.id)
