"""Gunicorn settings for production: `gunicorn app:app` reads this file from the working directory."""

import multiprocessing
import os
import sys

from maestro_web import gunicorn_hooks

# Loopback (or a unix socket, `unix:/run/maestro/web.sock`): nginx is the front (deploy/), and the
# app trusts its X-Forwarded-For. when_ready warns when it listens anywhere else while proxies are trusted.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5  # longer than nginx's keepalive_timeout for its upstream (deploy/nginx/maestro.conf.in)
# Limits on the request line and headers; bodies are limited by the app (MAESTRO_INGEST_MAX_BYTES).
limit_request_line = 8190
limit_request_field_size = 8190

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
# %(U)s is the path WITHOUT the query string: share and reset tokens travel in `?token=...`,
# so the request line (%(r)s), the query (%(q)s) and the raw URI are never logged.
access_log_format = '%(h)s - %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)ss "%(a)s"'
# The Referer header of a page opened from a share link would carry the token too: not logged.
# Client addresses are personal data: %(h)s is logged as its /24 (IPv4) or /48 (IPv6) network
# (GUNICORN_ACCESS_LOG_ADDRESSES=full keeps them whole).
try:
    logger_class = gunicorn_hooks.logger_class(os.environ.get("GUNICORN_ACCESS_LOG_ADDRESSES", "truncated"))
except ValueError as exc:
    sys.exit(f"Maestro Web cannot start: {exc}")
# No `Server: gunicorn` on any answer (gunicorn has no setting for it).
gunicorn_hooks.drop_server_header()
# A response's head and body in one write: a worker killed between two writes cut a counted view's answer.
gunicorn_hooks.send_head_with_body()
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    """Check the configuration once in the master, before any worker boots.

    A worker that fails to load the app is simply respawned by gunicorn (forever, with the port
    bound and requests hanging), so the secret and setting rules must stop the whole server here:
    one line naming the variable, exit status 1.
    """
    # Prometheus: every worker writes its metric values into files of one directory, and the worker
    # that answers GET /metrics adds them all up (prometheus_client's multiprocess mode). Set before
    # the app, and with it prometheus_client, is first imported. PROMETHEUS_MULTIPROC_DIR names it;
    # unset, a private temporary directory is made for this run and removed on exit.
    server.maestro_metrics_directory = gunicorn_hooks.metrics_directory()
    from maestro_web import ConfigError, create_app

    try:
        app = create_app()
    except ConfigError as exc:
        sys.exit(f"Maestro Web cannot start: {exc}")
    server.maestro_trusted_proxies = app.config["MAESTRO_TRUSTED_PROXIES"]


def when_ready(server):
    """Once the sockets are bound: warn when X-Forwarded-For is trusted from a socket others can reach."""
    warning = gunicorn_hooks.exposure_warning(server.LISTENERS, getattr(server, "maestro_trusted_proxies", 0))
    if warning:
        server.log.warning(warning)


def child_exit(server, worker):
    """A worker is gone (stopped, killed, replaced): its gauges leave the sums, its counters stay."""
    gunicorn_hooks.worker_exited(worker.pid)


def on_exit(server):
    if hasattr(server, "maestro_metrics_directory"):
        gunicorn_hooks.remove_metrics_directory(*server.maestro_metrics_directory)
