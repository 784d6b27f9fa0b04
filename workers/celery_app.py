"""The Celery app the worker and beat processes run.

``celery -A workers.celery_app worker`` and ``celery -A workers.celery_app
beat``. Tasks are short (one provider call each) and idempotent, so a message
is acknowledged only after its task ran and is handed to another worker when
its worker dies; beat runs under celery-redbeat so a second beat waits on the
lock instead of sweeping twice.
"""

from celery import Celery

from common.settings import Settings

QUEUE = "batchpredict"


def make_celery(settings: Settings) -> Celery:
    app = Celery("batchpredict", include=["workers.tasks"])
    app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        # Redis forgets nothing it hands out: a task unacknowledged this long
        # (its worker died) goes back to the queue. Tasks take seconds.
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        beat_scheduler="workers.beat:Scheduler",
        redbeat_redis_url=settings.beat_redis_url,
        redbeat_key_prefix=f"{settings.key_prefix}:redbeat:",
        redbeat_lock_key=f"{settings.key_prefix}:redbeat::lock",
        # redbeat's defaults would leave a killed beat's lock for 25 minutes.
        beat_max_loop_interval=max(1.0, settings.sweep_interval_s),
        redbeat_lock_timeout=max(5, int(settings.sweep_interval_s * 5)),
        beat_schedule={
            "sweep": {
                "task": "batchpredict.sweep",
                "schedule": settings.sweep_interval_s,
                # A sweep that waited a whole interval is superseded by the next.
                "options": {"expires": settings.sweep_interval_s},
            }
        },
    )
    return app


settings = Settings.from_env()
app = make_celery(settings)
