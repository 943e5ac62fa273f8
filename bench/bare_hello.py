"""A bare Flask hello-world: the ceiling a route of the app is compared with.

Nothing of Maestro Web: no factory, no extensions, no hooks, no headers. gunicorn serves it with the
same gunicorn.conf.py as the app (`gunicorn -c gunicorn.conf.py bench.bare_hello:app`), so a route's
req/s divided by this one's, measured in the same run, is what the whole app costs on top of
Flask and gunicorn. `/healthz` is there only for the harness's start-up check.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "hello"


@app.get("/healthz")
def healthz() -> str:
    return "ok"
