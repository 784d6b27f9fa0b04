"""Start and stop the stack's processes for the demo, benchmarks and tests.

Every process binds to loopback, logs to a file of its own and is stopped by
its PID, so nothing is left behind when the caller ends.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path

    def stop(self, timeout_s: float = 15.0, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean shutdown."""
        self.stop(timeout_s=5, sig=signal.SIGKILL)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def start(name: str, argv: list[str], log_dir: Path, env: dict | None = None) -> Proc:
    """Start ``argv`` in its own process group, output to ``log_dir/name.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log_file = open(log_path, "ab")  # noqa: SIM115 -- the child owns it
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    popen = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=full_env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log_file.close()
    return Proc(name, popen, log_path)


def wait_for_port(proc: Proc, port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(
                f"{proc.name} exited with {proc.popen.returncode} before it "
                f"listened on port {port}; its log ({proc.log_path}) ends:\n"
                f"{proc.log_tail()}"
            )
        if port_open(port):
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"{proc.name} did not listen on port {port} within {timeout_s:.0f}s; "
        f"its log ({proc.log_path}) ends:\n{proc.log_tail()}"
    )


def wait_for_http(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    last_error = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError as exc:
            last_error = exc
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f}s: {last_error}")


def start_redis(port: int, run_dir: Path, persistent: bool = False) -> Proc:
    """A private redis-server; with ``persistent`` it keeps an append-only
    file in ``run_dir`` and comes back with its data after a restart."""
    run_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--dir",
        str(run_dir),
    ]
    if persistent:
        argv += ["--appendonly", "yes", "--appendfsync", "always"]
    else:
        argv += ["--appendonly", "no"]
    proc = start(f"redis-{port}", argv, run_dir)
    wait_for_port(proc, port)
    return proc


def start_moto(port: int, log_dir: Path) -> Proc:
    proc = start(
        "s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], log_dir
    )
    wait_for_port(proc, port)
    return proc


def start_sandbox(
    port: int,
    log_dir: Path,
    data_dir: Path,
    s3_endpoint_url: str | None = None,
    env: dict | None = None,
) -> Proc:
    argv = [
        sys.executable,
        "-m",
        "sandbox",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    if s3_endpoint_url:
        argv += ["--s3-endpoint-url", s3_endpoint_url]
    proc = start("sandbox", argv, log_dir, env)
    wait_for_port(proc, port)
    return proc
