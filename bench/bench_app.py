"""The real app plus one baseline route, for benchmarks: gunicorn serves `bench.bench_app:app`.

`GET /bench/hello` answers "hello" through the same factory, extensions, before/after-request hooks
and security headers as every other route, so a route's throughput divided by hello's, measured in
the same run, tells what the route itself costs on top of the framework. Only the benchmarks import
this module; production serves `app:app`.
"""

import sys

from maestro_web import ConfigError, create_app

try:
    app = create_app()
except ConfigError as exc:
    sys.exit(f"Maestro Web cannot start: {exc}")


@app.get("/bench/hello")
def bench_hello() -> str:
    return "hello"
