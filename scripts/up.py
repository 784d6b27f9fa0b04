"""``make up``: the whole development stack in the foreground, from the
Procfile, with the providers' hosts routed to the sandbox.

API on 127.0.0.1:8000, Flower on 5555, sandbox on 8090, moto's S3 on 8091.
Every port is a setting: BATCHPREDICT_API_PORT, BATCHPREDICT_FLOWER_PORT,
SANDBOX_PORT, S3_PORT. Redis is started too
when none answers on 127.0.0.1:6379. Ctrl-C stops everything.
"""

import os
import secrets
import sys
from pathlib import Path

from scripts import procs
from scripts.stack import BIN, Stack

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    run_dir = ROOT / ".run"
    stack = Stack(
        run_dir=run_dir,
        api_port=int(os.environ.get("BATCHPREDICT_API_PORT", "8000")),
        sandbox_port=int(os.environ.get("SANDBOX_PORT", "8090")),
        s3_port=int(os.environ.get("S3_PORT", "8091")),
    )
    env = dict(os.environ)
    env.update(stack.env())
    env.update(
        BATCHPREDICT_API_PORT=str(stack.api_port),
        SANDBOX_PORT=str(stack.sandbox_port),
        S3_PORT=str(stack.s3_port),
        SANDBOX_DATA_DIR=str(run_dir / "sandbox-data"),
        SANDBOX_S3_ENDPOINT_URL=stack.s3_url,
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    flower = _flower_login(env, run_dir)
    procfile = (ROOT / "Procfile").read_text()
    if not procs.port_open(stack.redis_port):
        procfile += (
            f"redis: redis-server --port {stack.redis_port} --bind "
            "127.0.0.1 --save '' --appendonly no\n"
        )
    run_dir.mkdir(exist_ok=True)
    (run_dir / "Procfile").write_text(procfile)
    print(
        f"API http://127.0.0.1:{stack.api_port}  sandbox {stack.sandbox_url}  "
        f"S3 {stack.s3_url}",
        flush=True,
    )
    print(flower, flush=True)
    if env.get("BATCHPREDICT_AUTH_ENABLED", "true").lower() in ("0", "false", "no"):
        print("authentication: off (BATCHPREDICT_AUTH_ENABLED)", flush=True)
    else:
        print(
            "authentication: on; make a key with "
            ".venv/bin/python -m api.keys create --user you --admin",
            flush=True,
        )
    honcho = str(BIN / "honcho")
    argv = [honcho, "start", "-f", str(run_dir / "Procfile"), "-d", str(ROOT)]
    os.execve(honcho, argv, env)


def _flower_login(env: dict, run_dir: Path) -> str:
    """Give Flower a password when none is set (its REST API refuses every
    call without one) and say where to find it."""
    port = env.setdefault("BATCHPREDICT_FLOWER_PORT", "5555")
    user = env.get("BATCHPREDICT_FLOWER_USER", "admin")
    if env.get("BATCHPREDICT_FLOWER_PASSWORD"):
        where = "BATCHPREDICT_FLOWER_PASSWORD"
    else:
        password_file = run_dir / "flower.password"
        run_dir.mkdir(exist_ok=True)
        password_file.write_text(secrets.token_urlsafe(16))
        password_file.chmod(0o600)
        env["BATCHPREDICT_FLOWER_PASSWORD"] = password_file.read_text()
        where = str(password_file)
    return f"Flower http://127.0.0.1:{port} (user {user}, password in {where})"


if __name__ == "__main__":
    sys.exit(main())
