"""The recipe's nginx on loopback, for the soak benchmark and the tests that run it in front of gunicorn
(bench/soak.py, tests/test_proxy.py, tests/test_proxy_retries.py): one place for its certificate,
its site as an operator renders it, and the main configuration Debian's package would wrap it in.

    certificate, key = self_signed_certificate(folder)
    site = render(SITE_TEMPLATE, site_values(base_url=..., app_port=..., ...))   # then adapt it
    conf = write_main_config(folder, site, worker_connections=1024)
    nginx = subprocess.Popen(nginx_command(folder, conf), ...)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SITE_TEMPLATE = ROOT / "deploy" / "nginx" / "maestro.conf.in"
MISSING = f"{NGINX} is missing: install Debian's nginx (`scripts/system-packages test` does)"


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, valid a day, and its key, made by openssl in `folder`."""
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
    )
    return certificate, key


def render(template: Path, values: Mapping[str, str]) -> str:
    """deploy/render, run as an operator would (values from the environment); its error names the value."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "render"), str(template)],
        capture_output=True,
        text=True,
        env={**os.environ, **values},
    )
    if done.returncode != 0:
        raise RuntimeError(f"deploy/render {template.name} failed: {done.stderr}")
    return done.stdout


def site_values(
    *,
    base_url: str,
    app_port: int,
    live_port: int,
    http_port: int,
    https_port: int,
    certificate: Path,
    key: Path,
    access_log: Path,
    ingest_max_bytes: int = 5 * 1024 * 1024,
) -> dict[str, str]:
    """The values of maestro.conf.in for a site on loopback in front of one gunicorn and one live server."""
    return {
        "MAESTRO_BASE_URL": base_url,
        "GUNICORN_BIND": f"127.0.0.1:{app_port}",
        "MAESTRO_LIVE_HOST": "127.0.0.1",
        "MAESTRO_LIVE_PORT": str(live_port),
        "MAESTRO_INGEST_MAX_BYTES": str(ingest_max_bytes),
        "NGINX_SERVER_NAME": "127.0.0.1",
        "NGINX_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "NGINX_HTTPS_LISTEN": f"127.0.0.1:{https_port}",
        "NGINX_TLS_CERTIFICATE": str(certificate),
        "NGINX_TLS_CERTIFICATE_KEY": str(key),
        "NGINX_INTERNAL_NETWORK": "127.0.0.1/32",
        "NGINX_ACCESS_LOG": str(access_log),
    }


def write_main_config(folder: Path, site: str, *, worker_connections: int) -> Path:
    """What Debian's /etc/nginx/nginx.conf gives the site, with this run's files in `folder` instead;
    the site is written beside it as maestro.conf. Returns the main file."""
    (folder / "maestro.conf").write_text(site)
    conf = folder / "nginx.conf"
    conf.write_text(f"""
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
    access_log off;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/maestro.conf;
}}
""")
    return conf


def nginx_command(folder: Path, conf: Path) -> list[str]:
    """nginx in the foreground with `folder` as its prefix; its errors go to folder/error.log."""
    return [NGINX, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]
