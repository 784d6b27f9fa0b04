"""The Cohere adapter and the demo module against the sandbox, via the SDK."""

import json

import pytest

from common.errors import (
    ProviderJobNotFound,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from common.settings import Settings
from common.states import TaskState
from tests.sandbox import test_cohere_sandbox as datasets_and_jobs
from tests.sandbox.test_cohere_sandbox import (
    KEY,
    TEXTS,
    add_fault,
    calls,
    upload,
    validated_dataset,
    wait_for,
)
from workers.providers.base import ProviderCall
from workers.providers.cohere import CohereProvider

# The fast clock and the SDK client are the ones the sandbox tests use.
fast_cohere = datasets_and_jobs.fast_cohere
co = datasets_and_jobs.co

# --- the adapter against the sandbox ---------------------------------------


def adapter(url: str, timeout_s: float = 10.0) -> CohereProvider:
    return CohereProvider(Settings(cohere_base_url=url, provider_timeout_s=timeout_s))


def provider_call(dataset_id: str, **body) -> ProviderCall:
    return ProviderCall(
        url="https://api.cohere.ai/v1/embed-jobs",
        method="POST",
        body={
            "model": "embed-english-light-v3.0",
            "dataset_id": dataset_id,
            "input_type": "search_document",
            "embedding_types": ["float"],
            **body,
        },
        headers={"Authorization": f"Bearer {KEY}"},
    )


def test_adapter_submit_twice_makes_one_job_and_ends_completed(co, fast_cohere):
    call = provider_call(validated_dataset(co))
    provider = adapter(fast_cohere)

    first = provider.submit(call, "task-1")
    second = provider.submit(call, "task-1")
    done = wait_for(
        lambda: provider.describe(call, first), lambda j: j["status"] != "processing"
    )

    assert second["job_id"] == first["job_id"]
    assert first["name"] == "bp-task-1"
    assert calls(fast_cohere, "embed_jobs.create") == 1
    assert len(co.embed_jobs.list().embed_jobs) == 1
    # Field case 3: "complete", not "completed".
    assert done["status"] == "complete"
    assert provider.state_of(done) is TaskState.COMPLETED
    assert provider.summarize(done).output_location == done["output_dataset_id"]
    assert provider.remote_id(done) == first["job_id"]


def test_adapter_retry_after_a_timed_out_create_finds_the_job(co, fast_cohere):
    call = provider_call(validated_dataset(co), name="nightly")
    add_fault(fast_cohere, operation="embed_jobs.create", kind="slow", delay_s=2.0)
    provider = adapter(fast_cohere, timeout_s=0.5)

    with pytest.raises(ProviderUnavailable):
        provider.submit(call, "task-2")
    job = provider.submit(call, "task-2")

    assert job["name"] == "nightly-bp-task-2"
    assert calls(fast_cohere, "embed_jobs.create") == 1
    assert [j.job_id for j in co.embed_jobs.list().embed_jobs] == [job["job_id"]]


def test_adapter_maps_throttle_5xx_and_unknown_job(co, fast_cohere):
    call = provider_call("unused")
    provider = adapter(fast_cohere)
    add_fault(fast_cohere, operation="embed_jobs.get", kind="throttle", retry_after_s=7)
    add_fault(fast_cohere, operation="embed_jobs.list", kind="error", status=503)

    with pytest.raises(ProviderThrottled) as throttled:
        provider.describe(call, {"job_id": "any"})
    with pytest.raises(ProviderUnavailable):
        provider.find(call, "task-3")
    with pytest.raises(ProviderJobNotFound):
        provider.describe(call, {"job_id": "no-such-job"})

    assert throttled.value.retry_after_s == 7.0
    # SDK retries are off: each fault was met exactly once.
    assert calls(fast_cohere, "embed_jobs.get") == 2
    assert calls(fast_cohere, "embed_jobs.list") == 1


def test_adapter_rejects_a_dataset_that_is_not_ready(co, fast_cohere):
    pending = upload(co, [{"text": "x"}])

    with pytest.raises(ProviderRejected) as rejected:
        adapter(fast_cohere).submit(provider_call(pending), "task-4")

    assert not isinstance(rejected.value, ProviderJobNotFound)
    assert "validated" in rejected.value.message


def test_adapter_cancel_moves_the_job_to_cancelled(co, fast_cohere):
    call = provider_call(validated_dataset(co))
    provider = adapter(fast_cohere)
    job = provider.submit(call, "task-5")

    assert provider.cancel(call, job) == {}
    done = wait_for(
        lambda: provider.describe(call, job), lambda j: j["status"] != "cancelling"
    )

    assert provider.state_of(done) is TaskState.CANCELLED
    assert provider.summarize(done).output_location is None


# --- the demo module --------------------------------------------------------


def render(template: str, parameters: dict) -> str:
    for name, value in parameters.items():
        template = template.replace("${parameters." + name + "}", value)
    return template


def test_demo_prepare_and_collect_round_trip(fast_cohere):
    from scripts.demo_providers import DemoEnv
    from scripts.demo_providers import cohere as demo

    env = DemoEnv(sandbox_url=fast_cohere, s3_endpoint_url="", run_id="run1")
    records = [(f"r{i}", text) for i, text in enumerate(TEXTS)]

    connector, parameters = demo.prepare(records, env)
    action = connector["actions"][0]
    body = json.loads(
        render(action["request_body"], {**connector["parameters"], **parameters})
    )
    call = ProviderCall(
        url=action["url"], method="POST", body=body, credential=connector["credential"]
    )
    provider = adapter(fast_cohere)
    job = provider.submit(call, "demo-task")
    done = wait_for(
        lambda: provider.describe(call, job), lambda j: j["status"] != "processing"
    )
    vectors, embedder = demo.collect({"task_id": "demo-task", "remote_job": done}, env)

    assert action["url"] == "https://api.cohere.ai/v1/embed-jobs"
    assert set(vectors) == {record_id for record_id, _ in records}
    assert {len(v) for v in vectors.values()} == {384}
    assert embedder == "sandbox-hashing-embedder-v1"
