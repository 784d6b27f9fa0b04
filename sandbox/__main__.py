"""Run the sandbox: ``python -m sandbox --port 8090``."""

import argparse
import logging
import os
import tempfile

from werkzeug.serving import make_server

from sandbox.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Local provider stand-ins.")
    parser.add_argument("--host", default=os.environ.get("SANDBOX_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("SANDBOX_PORT", "8090"))
    )
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("SANDBOX_DATA_DIR")
        or tempfile.mkdtemp(prefix="batchpredict-sandbox-"),
    )
    parser.add_argument(
        "--s3-endpoint-url",
        default=os.environ.get("SANDBOX_S3_ENDPOINT_URL"),
        help="moto's S3 server, for the providers that read and write S3",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox %(message)s")
    os.makedirs(args.data_dir, exist_ok=True)
    app = create_app(args.data_dir, args.s3_endpoint_url)
    server = make_server(args.host, args.port, app, threaded=True)
    logging.info(
        "serving on http://%s:%d (data in %s)", args.host, args.port, args.data_dir
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
