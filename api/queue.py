"""Handing work to the workers: Celery messages sent by task name only, so
the web process never imports the workers or a provider SDK."""

import logging

from celery import Celery

from common.settings import Settings

log = logging.getLogger("batchpredict.api")

QUEUE = "batchpredict"
_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2}


class TaskQueue:
    def __init__(self, settings: Settings):
        self.celery = Celery("batchpredict-api", broker=settings.broker_url)
        self.celery.conf.update(
            task_send_sent_event=True,
            broker_connection_retry_on_startup=True,
            task_default_queue=QUEUE,
        )

    def send(self, name: str, task_id: str) -> bool:
        """Queue ``batchpredict.<name>`` for a task; False if the broker is away.

        A message that could not be sent is not lost work: the task is already
        stored and scheduled, and beat's sweep hands it out when its lease ends.
        """
        try:
            self.celery.send_task(
                f"batchpredict.{name}",
                args=[task_id],
                queue=QUEUE,
                retry=True,
                retry_policy=_RETRY_POLICY,
            )
        except Exception as exc:  # kombu raises many kinds; the sweep recovers
            log.warning(
                "Task %s: could not queue %s (%s); the sweep will retry",
                task_id,
                name,
                exc,
            )
            return False
        return True
