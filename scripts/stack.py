"""The whole development stack as child processes: Redis (when none answers),
moto's S3, the sandbox, the API under gunicorn, a Celery worker and beat.

Used by the demo, the benchmarks and the integration tests; ``make up`` runs
the same processes from the Procfile instead.
"""

import base64
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from scripts import procs

BIN = Path(sys.executable).parent


@dataclass
class Stack:
    run_dir: Path
    redis_port: int = 6379
    api_port: int = 8000
    sandbox_port: int = 8090
    s3_port: int = 8091
    worker_concurrency: int = 8
    #: The state store uses this Redis database, the broker the next one and
    #: celery-redbeat the one after.
    db_base: int = 0
    extra_env: dict = field(default_factory=dict)
    running: dict = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def env(self) -> dict:
        redis = f"redis://127.0.0.1:{self.redis_port}"
        key_file = self.run_dir / "master.key"
        if not key_file.exists():
            self.run_dir.mkdir(parents=True, exist_ok=True)
            key_file.write_text(base64.b64encode(os.urandom(32)).decode())
            key_file.chmod(0o600)
        env = {
            "BATCHPREDICT_REDIS_URL": f"{redis}/{self.db_base}",
            "BATCHPREDICT_BROKER_URL": f"{redis}/{self.db_base + 1}",
            "BATCHPREDICT_BEAT_REDIS_URL": f"{redis}/{self.db_base + 2}",
            "BATCHPREDICT_MASTER_KEY_FILE": str(key_file),
            "BATCHPREDICT_OPENAI_BASE_URL": f"{self.sandbox_url}/v1",
            "BATCHPREDICT_COHERE_BASE_URL": self.sandbox_url,
            "BATCHPREDICT_SAGEMAKER_ENDPOINT_URL": self.sandbox_url,
            "BATCHPREDICT_BEDROCK_ENDPOINT_URL": self.sandbox_url,
            "BATCHPREDICT_S3_ENDPOINT_URL": self.s3_url,
            "BATCHPREDICT_REFRESH_MIN_S": "1",
            "BATCHPREDICT_SWEEP_INTERVAL_S": "1",
            "BATCHPREDICT_LEASE_S": "60",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        env.update(self.extra_env)
        return env

    def start_redis_if_needed(self) -> None:
        if procs.port_open(self.redis_port):
            return
        if shutil.which("redis-server") is None:
            raise RuntimeError(
                f"no Redis answers on 127.0.0.1:{self.redis_port} and redis-server "
                "is not installed; install it (apt-get install redis-server) or "
                "start one on that port"
            )
        self.running["redis"] = procs.start_redis(self.redis_port, self.run_dir)

    def start_s3(self) -> None:
        self.running["s3"] = procs.start_moto(self.s3_port, self.run_dir)

    def start_sandbox(self) -> None:
        self.running["sandbox"] = procs.start_sandbox(
            self.sandbox_port,
            self.run_dir,
            self.run_dir / "sandbox-data",
            s3_endpoint_url=self.s3_url,
            env=self.extra_env,
        )

    def start_api(self) -> None:
        argv = [
            str(BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{self.api_port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--worker-class",
            "gthread",
            "--no-control-socket",
            "api.wsgi:app",
        ]
        self.running["api"] = procs.start("api", argv, self.run_dir, self.env())
        procs.wait_for_port(self.running["api"], self.api_port)

    def start_worker(self, name: str = "worker") -> procs.Proc:
        argv = [
            str(BIN / "celery"),
            "-A",
            "workers.celery_app",
            "worker",
            "--loglevel",
            "INFO",
            "--pool",
            "threads",
            "--concurrency",
            str(self.worker_concurrency),
            "--hostname",
            f"{name}@%h",
            "--without-mingle",
            "--without-gossip",
        ]
        self.running[name] = procs.start(name, argv, self.run_dir, self.env())
        return self.running[name]

    def start_beat(self, name: str = "beat") -> procs.Proc:
        argv = [
            str(BIN / "celery"),
            "-A",
            "workers.celery_app",
            "beat",
            "--loglevel",
            "INFO",
        ]
        self.running[name] = procs.start(name, argv, self.run_dir, self.env())
        return self.running[name]

    def start_flower(self, port: int = 5555, password: str = "") -> procs.Proc:
        """Celery Flower on 127.0.0.1:``port``; with a password, basic auth as
        the settings' flower_user (admin)."""
        env = dict(
            self.env(),
            BATCHPREDICT_FLOWER_PORT=str(port),
            BATCHPREDICT_FLOWER_PASSWORD=password,
        )
        argv = [
            str(BIN / "celery"),
            "-A",
            "workers.celery_app",
            "flower",
            "--conf=workers/flower_config.py",
        ]
        self.running["flower"] = procs.start("flower", argv, self.run_dir, env)
        procs.wait_for_port(self.running["flower"], port)
        return self.running["flower"]

    def start_all(self) -> None:
        self.start_redis_if_needed()
        self.start_s3()
        self.start_sandbox()
        self.start_api()
        self.start_worker()
        self.start_beat()

    def stop(self) -> None:
        for name in reversed(list(self.running)):
            self.running.pop(name).stop()
