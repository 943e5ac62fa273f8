"""The lean services (discovery, reports) as real processes: `flask <group> serve` on a free port,
trusting what the test app signs and reading the test app's live server."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from process_support import DidNotAnswer, wait_until_answers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ServiceProcess:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.proc, self.port, self.log_path = proc, port, log_path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_service(
    group: str,
    config: Any,
    app_url: str,
    *,
    port: int,
    publish_url: str | None = None,
    timeout: float = 60.0,
    extra: dict[str, str] | None = None,
) -> ServiceProcess:
    """`flask <group> serve` with the secrets of `config` (an app.config), reading the app at `app_url`;
    returns once its /healthz answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAESTRO_", "REDIS_URL", "FLASK_"))}
    rings = config["KEY_RINGS"]
    env.update(
        {
            "MAESTRO_ENV": "testing",
            "PYTHONUNBUFFERED": "1",
            "MAESTRO_BASE_URL": app_url,
            "MAESTRO_SECRETJWT": rings["session"].current,
            "MAESTRO_SECRETJWT_SOCKET": rings["socket"].current,
            "LOG_LEVEL": "INFO",
        }
    )
    if publish_url:
        env["MAESTRO_LIVE_PUBLISH_URL"] = publish_url
    env.update(extra or {})
    log_file = tempfile.NamedTemporaryFile(prefix=f"{group}-{port}-", suffix=".log", delete=False)
    command = [sys.executable, "-m", "flask", "--app", "app", group, "serve", "--port", str(port)]
    if not publish_url:
        command.append("--no-live")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    log_file.close()
    service = ServiceProcess(proc, port, Path(log_file.name))
    try:
        wait_until_answers(
            f"{service.url}/healthz",
            process=proc,
            log=service.log_path,
            timeout=timeout,
            what=f"{group} service",
            request_timeout=1,
        )
    except DidNotAnswer:
        service.stop()
        raise
    return service
