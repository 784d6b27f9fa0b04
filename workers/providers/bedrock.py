"""Bedrock batch inference through boto3's ``bedrock`` client.

The rendered connector body is CreateModelInvocationJob's arguments. The
task id travels as ``clientRequestToken``, Bedrock's idempotency key, so a
retried submit gets the job the first attempt made. Jobs are addressed by
their full ARN, slash and all; boto3 encodes it into the URL path.
"""

import datetime as dt
import hashlib
import logging
import re

from common.errors import ProviderRejected
from common.states import TaskState
from workers.providers.aws_client import client_for, json_safe, provider_errors
from workers.providers.base import Provider, ProviderCall, ResultSummary

log = logging.getLogger("batchpredict.provider.bedrock")

#: clientRequestToken's pattern in the bedrock/2023-04-20 service model.
TOKEN_PATTERN = re.compile(r"[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}")
TOKEN_MAX_LENGTH = 256
LIST_PAGE_SIZE = 100


def request_token(task_id: str) -> str:
    """The task id as Bedrock's idempotency token.

    Our task ids already fit the token's pattern; one that does not is
    hashed, which is just as stable across retries.
    """
    if len(task_id) <= TOKEN_MAX_LENGTH and TOKEN_PATTERN.fullmatch(task_id):
        return task_id
    return hashlib.sha256(task_id.encode("utf-8")).hexdigest()


class BedrockProvider(Provider):
    name = "bedrock"
    status_field = "status"
    submit_calls = 2  # create, then get for the whole job object
    status_table = {
        "Submitted": TaskState.RUNNING,
        "Validating": TaskState.RUNNING,
        "Scheduled": TaskState.RUNNING,
        "InProgress": TaskState.RUNNING,
        "Completed": TaskState.COMPLETED,
        "PartiallyCompleted": TaskState.COMPLETED_WITH_ERROR,
        "Failed": TaskState.FAILED,
        "Stopping": TaskState.CANCELLING,
        "Stopped": TaskState.CANCELLED,
        "Expired": TaskState.EXPIRED,
    }

    def submit(self, call: ProviderCall, task_id: str) -> dict:
        if not isinstance(call.body, dict):
            raise ProviderRejected(
                "the connector's request_body must render to a JSON object of "
                "CreateModelInvocationJob arguments",
                self.name,
            )
        arguments = {**call.body, "clientRequestToken": request_token(task_id)}
        client = client_for(self.name, call, self.settings)
        with provider_errors(self.name):
            job_arn = client.create_model_invocation_job(**arguments)["jobArn"]
        log.info("Task %s: submitted to bedrock as %s", task_id, job_arn)
        return self._get(client, job_arn)

    def find(self, call: ProviderCall, task_id: str) -> dict | None:
        job_name = call.body.get("jobName") if isinstance(call.body, dict) else None
        if not job_name:
            return None
        token = request_token(task_id)
        client = client_for(self.name, call, self.settings)
        pages = {"nameContains": job_name, "maxResults": LIST_PAGE_SIZE}
        while True:
            with provider_errors(self.name):
                page = client.list_model_invocation_jobs(**pages)
            for summary in page.get("invocationJobSummaries", []):
                if summary.get("clientRequestToken") == token:
                    return json_safe(summary)
            if not page.get("nextToken"):
                return None
            pages["nextToken"] = page["nextToken"]

    def describe(self, call: ProviderCall, remote_job: dict) -> dict:
        client = client_for(self.name, call, self.settings)
        return self._get(client, remote_job["jobArn"])

    def list_jobs(self, call, remote_jobs, spend) -> dict[str, dict]:
        wanted = {job["jobArn"] for job in remote_jobs if job.get("jobArn")}
        submitted = [job["submitTime"] for job in remote_jobs if job.get("submitTime")]
        arguments = {"maxResults": LIST_PAGE_SIZE}
        if len(submitted) == len(remote_jobs):
            oldest = min(dt.datetime.fromisoformat(t) for t in submitted)
            arguments["submitTimeAfter"] = oldest - dt.timedelta(seconds=1)
        client, found = client_for(self.name, call, self.settings), {}
        while wanted - found.keys():
            if not spend():
                break
            with provider_errors(self.name):
                page = client.list_model_invocation_jobs(**arguments)
            for summary in page.get("invocationJobSummaries", []):
                if summary.get("jobArn") in wanted:
                    found[summary["jobArn"]] = json_safe(summary)
            if not page.get("nextToken"):
                break
            arguments["nextToken"] = page["nextToken"]
        return found

    def _get(self, client, job_arn: str) -> dict:
        with provider_errors(self.name):
            answer = client.get_model_invocation_job(jobIdentifier=job_arn)
        return json_safe(answer)

    def cancel(self, call: ProviderCall, remote_job: dict) -> dict:
        client = client_for(self.name, call, self.settings)
        with provider_errors(self.name):
            answer = client.stop_model_invocation_job(
                jobIdentifier=remote_job["jobArn"]
            )
        log.info("Bedrock job %s: stop requested", remote_job["jobArn"])
        return json_safe(answer)

    def state_of(self, remote_job: dict) -> TaskState:
        state = super().state_of(remote_job)
        # "Completed" with failed records looks like success but is not
        # (the same kind of answer as field case 1).
        if state is TaskState.COMPLETED and remote_job.get("errorRecordCount"):
            return TaskState.COMPLETED_WITH_ERROR
        return state

    def summarize(self, remote_job: dict) -> ResultSummary:
        output = (
            (remote_job.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}
        ).get("s3Uri")
        job_id = remote_job.get("jobArn", "").rsplit("/", 1)[-1]
        location = f"{output.rstrip('/')}/{job_id}/" if output and job_id else None
        return ResultSummary(
            output_location=location,
            total=remote_job.get("totalRecordCount"),
            succeeded=remote_job.get("successRecordCount"),
            failed=remote_job.get("errorRecordCount"),
        )

    def error_of(self, remote_job: dict) -> str | None:
        return remote_job.get("message") or None

    def remote_id(self, remote_job: dict) -> str | None:
        return remote_job.get("jobArn")


ADAPTER = BedrockProvider
