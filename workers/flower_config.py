"""Celery Flower's options, from the ``BATCHPREDICT_FLOWER_*`` settings:
``celery -A workers.celery_app flower --conf=workers/flower_config.py``.

Flower executes this file and takes every module-level name it knows as an
option. Reading the password here keeps it off the command line, where any
user of the host could read it in the process list.
"""

from common import logs
from common.settings import Settings

_settings = Settings.from_env()
logs.configure("flower", _settings)

address = _settings.flower_host
port = _settings.flower_port
max_tasks = _settings.flower_max_tasks
# Without basic auth Flower 2 refuses its REST API to everyone (401), which is
# the safe way to fail. /metrics and /healthcheck stay open either way.
if _settings.flower_password:
    basic_auth = [f"{_settings.flower_user}:{_settings.flower_password}"]
