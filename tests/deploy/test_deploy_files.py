"""The deployment files start what the Procfile starts, with settings that
exist and parse; nothing is built or run (no container engine here)."""

import re
import shlex
from dataclasses import fields
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from api.queue import QUEUE
from common.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTING_NAMES = {f"BATCHPREDICT_{spec.name.upper()}" for spec in fields(Settings)}
PRODUCT_PROCESSES = ("web", "worker", "beat", "flower")
ALL_PROCESSES = (*PRODUCT_PROCESSES, "sandbox", "s3")


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _k8s() -> list[dict]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def _containers() -> dict[str, dict]:
    return {
        container["name"]: container
        for doc in _k8s()
        if doc["kind"] == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    }


def _config_map() -> dict[str, str]:
    [config] = [doc for doc in _k8s() if doc["kind"] == "ConfigMap"]
    return config["data"]


def _k8s_env(container: dict) -> dict[str, str]:
    env = dict(_config_map()) if container.get("envFrom") else {}
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", "<from a secret>")
    return env


def test_procfile_names_only_settings_that_exist():
    for name, line in _procfile().items():
        used = set(re.findall(r"\$\{(BATCHPREDICT_\w+?)(?::-[^}]*)?\}", line))
        assert used <= SETTING_NAMES, (name, used - SETTING_NAMES)
    assert set(_procfile()) == set(ALL_PROCESSES)


@pytest.mark.parametrize("process", ALL_PROCESSES)
def test_compose_runs_the_procfile_line(process):
    command = _compose()["services"][process]["command"]

    # "$$" is compose's escape for a "$" the container's shell expands.
    assert command[:2] == ["sh", "-c"]
    assert command[2].replace("$$", "$") == f"exec {_procfile()[process]}"


@pytest.mark.parametrize("process", ALL_PROCESSES)
def test_kubernetes_runs_the_procfile_line(process):
    command = _containers()[process]["command"]

    assert command == ["sh", "-c", f"exec {_procfile()[process]}"]


def test_dockerfile_runs_the_web_line_as_a_user():
    text = (DEPLOY / "Dockerfile").read_text()
    [cmd] = [line for line in text.splitlines() if line.startswith("CMD ")]
    user = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]

    assert yaml.safe_load(cmd[4:]) == ["sh", "-c", f"exec {_procfile()['web']}"]
    assert user and user[-1] not in ("root", "0")
    assert text.startswith("#") and "FROM python:3.11" in text


@pytest.mark.parametrize("process", PRODUCT_PROCESSES)
def test_compose_settings_exist_and_parse(process):
    env = _compose()["services"][process]["environment"]

    named = {k for k in env if k.startswith("BATCHPREDICT_")}
    assert named <= SETTING_NAMES, named - SETTING_NAMES
    settings = Settings.from_env({k: str(v) for k, v in env.items()})
    assert urlparse(settings.redis_url).hostname == "redis"
    assert settings.master_key_file == "/run/secrets/master_key"


@pytest.mark.parametrize("process", PRODUCT_PROCESSES)
def test_kubernetes_settings_exist_and_parse(process):
    env = _k8s_env(_containers()[process])

    named = {k for k in env if k.startswith("BATCHPREDICT_")}
    assert named <= SETTING_NAMES, named - SETTING_NAMES
    settings = Settings.from_env(env)
    assert settings.master_key or process == "flower"
    assert urlparse(settings.broker_url).hostname == "batchpredict-redis"


def test_servers_listen_beyond_loopback_only_in_containers():
    compose = _compose()["services"]
    containers = _containers()

    assert compose["web"]["environment"]["BATCHPREDICT_API_HOST"] == "0.0.0.0"
    assert compose["flower"]["environment"]["BATCHPREDICT_FLOWER_HOST"] == "0.0.0.0"
    assert _k8s_env(containers["web"])["BATCHPREDICT_API_HOST"] == "0.0.0.0"
    for service in compose.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    assert Settings().api_host == Settings().flower_host == "127.0.0.1"


def test_keda_scales_the_worker_on_the_broker_queue():
    [scaled] = [doc for doc in _k8s() if doc["kind"] == "ScaledObject"]
    [trigger] = scaled["spec"]["triggers"]
    broker = urlparse(Settings.from_env(_config_map()).broker_url)
    workers = [
        doc
        for doc in _k8s()
        if doc["kind"] == "Deployment" and doc["metadata"]["name"].endswith("worker")
    ]

    assert scaled["spec"]["scaleTargetRef"]["name"] == workers[0]["metadata"]["name"]
    assert scaled["spec"]["minReplicaCount"] >= 1
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == QUEUE
    assert trigger["metadata"]["databaseIndex"] == broker.path.strip("/")
    assert trigger["metadata"]["address"] == f"{broker.hostname}:{broker.port}"


def test_a_stopping_worker_has_time_to_finish_its_task():
    [worker] = [
        doc
        for doc in _k8s()
        if doc["kind"] == "Deployment" and doc["metadata"]["name"].endswith("worker")
    ]
    grace_s = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    compose_grace = _compose()["services"]["worker"]["stop_grace_period"]
    longest_task_s = 2 * Settings().provider_timeout_s

    # exec makes Celery PID 1, so SIGTERM reaches it and starts a warm shutdown
    assert shlex.split(_containers()["worker"]["command"][2])[0] == "exec"
    assert grace_s >= longest_task_s
    assert int(compose_grace.rstrip("s")) >= longest_task_s
