"""One module per provider for ``make demo PROVIDER=<name>``.

Each module offers two functions, and nothing else of the demo knows the
provider's shapes:

``prepare(records, env) -> (connector, parameters)``
    Puts ``records`` (a list of ``(record_id, text)``) where the provider
    reads its input, using the official SDK against the sandbox, and returns
    the ML Commons connector body for ``POST /_plugins/_ml/connectors/_create``
    plus the ``parameters`` of the ``_batch_predict`` call.

``collect(task, env) -> (vectors, embedder)``
    Reads the finished task's output with the official SDK and returns
    ``{record_id: embedding}`` and the name of the embedder that made them.

``env`` is a :class:`DemoEnv`.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoEnv:
    sandbox_url: str  # e.g. http://127.0.0.1:8090
    s3_endpoint_url: str  # moto's S3, e.g. http://127.0.0.1:8091
    run_id: str  # unique per demo run: use it in job names and S3 keys
