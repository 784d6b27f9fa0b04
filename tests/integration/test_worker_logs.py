"""The worker's log: one JSON line per finished Celery task, naming the
batchpredict task it worked on."""

import json
import sys

import pytest

from scripts import procs
from tests.integration.conftest import client_for, wait_for_task
from tests.integration.test_flower import _run_job

pytestmark = pytest.mark.integration

# workers.tasks imports workers.logs; importing it first here keeps this test
# honest about the module alone.
_WORKER = (
    "import sys, workers.logs; from workers.celery_app import app; "
    "app.worker_main(sys.argv[1:])"
)


def test_each_finished_task_has_one_json_line(private_stack, sandbox_url):
    # Given a worker writing JSON lines
    stack = private_stack({"BATCHPREDICT_LOG_FORMAT": "json"})
    argv = [sys.executable, "-c", _WORKER, "worker", "--pool", "threads"]
    argv += ["--concurrency", "4", "--hostname", "jsonworker@%h", "--loglevel", "INFO"]
    worker = procs.start("json-worker", argv, stack.run_dir, stack.env())
    stack.running["json-worker"] = worker
    stack.start_beat()
    client = client_for(stack)

    # When a job runs to completion
    task_id = _run_job(client, sandbox_url)
    wait_for_task(client, task_id)

    # Then the submit and each refresh of the task finished with one JSON
    # line that names it (Celery prints its banner before logging starts)
    text = worker.log_path.read_text().splitlines()
    lines = [json.loads(line) for line in text if line.startswith("{")]
    finished = [line for line in lines if line.get("celery_task_id")]
    mine = [line for line in finished if line["task_id"] == task_id]
    submits = [line for line in mine if line["celery_task"] == "batchpredict.submit"]
    # (a second submit may come from the sweep while the worker starts; it
    # finds the task submitted and finishes without a provider call)
    assert submits
    assert {line["state"] for line in submits} == {"SUCCESS"}
    assert {line["component"] for line in submits} == {"worker"}
    assert any(line["celery_task"] == "batchpredict.refresh" for line in mine)
    assert len({line["celery_task_id"] for line in finished}) == len(finished)
