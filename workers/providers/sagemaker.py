"""SageMaker batch transform through boto3's ``sagemaker`` client.

The rendered connector body is CreateTransformJob's arguments, as in the ML
Commons blueprint. The caller names the job (``TransformJobName``) and
SageMaker never frees a name, so the job carries a ``batchpredict_task_id``
tag: when a retried submit meets ``ResourceInUse``, the tag tells our own
job (carry on with it) from a name someone else already took.
"""

import datetime as dt
import logging

from common.errors import ProviderJobNotFound, ProviderRejected
from common.states import TaskState
from workers.providers.aws_client import client_for, json_safe, provider_errors
from workers.providers.base import TASK_ID_TAG, Provider, ProviderCall, ResultSummary

log = logging.getLogger("batchpredict.provider.sagemaker")

#: ListTags takes 50 to 100 per page; a job has at most 50 tags.
TAGS_PAGE_SIZE = 100


def _unknown_job(code: str, message: str) -> bool:
    # SageMaker answers a describe of an unknown job with a
    # ValidationException, not its modelled ResourceNotFound.
    return code == "ValidationException" and message.startswith("Could not find")


class SageMakerProvider(Provider):
    name = "sagemaker"
    status_field = "TransformJobStatus"
    submit_calls = 2  # create, then describe for the whole job object
    status_table = {
        "InProgress": TaskState.RUNNING,
        "Completed": TaskState.COMPLETED,
        "Failed": TaskState.FAILED,
        "Stopping": TaskState.CANCELLING,
        "Stopped": TaskState.CANCELLED,
    }

    def submit(self, call: ProviderCall, task_id: str) -> dict:
        arguments = _create_arguments(call.body, task_id)
        job_name = arguments["TransformJobName"]
        client = client_for(self.name, call, self.settings)
        try:
            with provider_errors(self.name):
                client.create_transform_job(**arguments)
        except ProviderRejected as exc:
            if exc.code != "ResourceInUse":
                raise
            return self._own_job(client, job_name, task_id)
        log.info("Task %s: submitted to sagemaker as %s", task_id, job_name)
        return self._describe(client, job_name)

    def _own_job(self, client, job_name: str, task_id: str) -> dict:
        """The job holding ``job_name``, if an earlier attempt made it."""
        job = self._describe(client, job_name)
        owner = self._tagged_task(client, job["TransformJobArn"])
        if owner != task_id:
            raise ProviderRejected(
                f"SageMaker transform job name {job_name!r} is already taken by "
                f"a job that task {task_id} did not make; transform job names "
                "can never be reused, so give TransformJobName a new value",
                self.name,
                "ResourceInUse",
            )
        log.info("Task %s: carrying on with sagemaker job %s", task_id, job_name)
        return job

    def _tagged_task(self, client, job_arn: str) -> str | None:
        with provider_errors(self.name, _unknown_job):
            tags = client.list_tags(ResourceArn=job_arn, MaxResults=TAGS_PAGE_SIZE)
        for tag in tags.get("Tags", []):
            if tag.get("Key") == TASK_ID_TAG:
                return tag.get("Value")
        return None

    def find(self, call: ProviderCall, task_id: str) -> dict | None:
        job_name = call.body.get("TransformJobName")
        if not job_name:
            return None
        client = client_for(self.name, call, self.settings)
        try:
            job = self._describe(client, job_name)
        except ProviderJobNotFound:
            return None
        if self._tagged_task(client, job["TransformJobArn"]) != task_id:
            return None
        return job

    def describe(self, call: ProviderCall, remote_job: dict) -> dict:
        client = client_for(self.name, call, self.settings)
        return self._describe(client, _job_name(remote_job))

    def list_jobs(self, call, remote_jobs, spend) -> dict[str, dict]:
        wanted = {_job_name(job) for job in remote_jobs}
        created = [
            job["CreationTime"] for job in remote_jobs if job.get("CreationTime")
        ]
        arguments = {
            "MaxResults": 100,
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
        }
        if len(created) == len(remote_jobs):
            oldest = min(dt.datetime.fromisoformat(c) for c in created)
            arguments["CreationTimeAfter"] = oldest - dt.timedelta(seconds=1)
        client, found = client_for(self.name, call, self.settings), {}
        while wanted - found.keys():
            if not spend():
                break
            with provider_errors(self.name):
                page = client.list_transform_jobs(**arguments)
            for summary in page.get("TransformJobSummaries", []):
                if summary["TransformJobName"] in wanted:
                    found[summary["TransformJobName"]] = json_safe(summary)
            if not page.get("NextToken"):
                break
            arguments["NextToken"] = page["NextToken"]
        return found

    def _describe(self, client, job_name: str) -> dict:
        with provider_errors(self.name, _unknown_job):
            answer = client.describe_transform_job(TransformJobName=job_name)
        return json_safe(answer)

    def cancel(self, call: ProviderCall, remote_job: dict) -> dict:
        client = client_for(self.name, call, self.settings)
        job_name = _job_name(remote_job)
        with provider_errors(self.name, _unknown_job):
            answer = client.stop_transform_job(TransformJobName=job_name)
        log.info("Sagemaker job %s: stop requested", job_name)
        return json_safe(answer)

    def summarize(self, remote_job: dict) -> ResultSummary:
        # SageMaker reports no record counts, only where the output went.
        output = (remote_job.get("TransformOutput") or {}).get("S3OutputPath")
        return ResultSummary(output_location=output)

    def error_of(self, remote_job: dict) -> str | None:
        return remote_job.get("FailureReason") or None

    def remote_id(self, remote_job: dict) -> str | None:
        return remote_job.get("TransformJobName")


def _create_arguments(body: dict, task_id: str) -> dict:
    """CreateTransformJob's arguments: the body plus the task-id tag."""
    if not isinstance(body, dict) or not body.get("TransformJobName"):
        raise ProviderRejected(
            "the connector's request_body must render to CreateTransformJob "
            "arguments with a TransformJobName; "
            f"got keys {sorted(body) if isinstance(body, dict) else type(body)}",
            "sagemaker",
        )
    tags = [tag for tag in body.get("Tags") or [] if tag.get("Key") != TASK_ID_TAG]
    tags.append({"Key": TASK_ID_TAG, "Value": task_id})
    return {**body, "Tags": tags}


def _job_name(remote_job: dict) -> str:
    name = remote_job.get("TransformJobName")
    if name:
        return name
    # A job known only by its ARN: arn:aws:sagemaker:...:transform-job/<name>
    return remote_job["TransformJobArn"].rsplit("/", 1)[-1]


ADAPTER = SageMakerProvider
