"""``make up``: the whole development stack in the foreground, from the
Procfile, with the providers' hosts routed to the sandbox.

API on 127.0.0.1:8000, sandbox on 8090, moto's S3 on 8091. Every port is a
setting: BATCHPREDICT_API_PORT, SANDBOX_PORT, S3_PORT. Redis is started too
when none answers on 127.0.0.1:6379. Ctrl-C stops everything.
"""

import os
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
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
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
    honcho = str(BIN / "honcho")
    argv = [honcho, "start", "-f", str(run_dir / "Procfile"), "-d", str(ROOT)]
    os.execve(honcho, argv, env)


if __name__ == "__main__":
    sys.exit(main())
