"""The lean services (discovery, reports) as real processes on a free port, trusting what the test app
signs and reading the test app's live server; and how every lean process (those and the live server)
is started.

`flask <group> serve` loads the whole app to read its settings, then hands them over a pipe to the
lean process it turns into (service_kit.exec_service). By default the tests do that hand-over
themselves: the same settings, read by the same load_settings() from the same environment, over the
same pipe, into the same `python -m <module>`, without the 1.5-2 s of CPU the app's import costs each
start. `cli=True` starts through `flask <group> serve`, as `make run` and deploy/ do: the session's
live server, the reports end-to-end test and the discovery secrets test keep that path tested.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from process_support import DidNotAnswer, wait_until_answers

from maestro_web.config import load_settings
from maestro_web.service_kit import service_command, settings_pipe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANCE = os.path.join(ROOT, "instance")  # the app's instance folder, as `flask --app app` finds it


def _settings_class(group: str) -> Any:
    """The class of the settings `flask <group> serve` hands over; its MODULE is the process it turns into."""
    if group == "live":
        from maestro_web.live_server.settings import LiveSettings

        return LiveSettings
    if group == "discovery":
        from maestro_web.discovery.settings import DiscoverySettings

        return DiscoverySettings
    from maestro_web.reports.settings import ReportSettings

    return ReportSettings


def spawn_lean(
    group: str, env: dict[str, str], host: str, port: int, *, live: bool = True, cli: bool = False, log: Any
) -> subprocess.Popen[bytes]:
    """Start the lean process of `flask <group> serve` with the environment `env`, its output to `log`:
    through the Flask CLI (`cli`), or with the hand-over done here (the module's docstring says why)."""
    flags = [] if live else ["--no-live"]
    if cli:
        command = [sys.executable, "-m", "flask", "--app", "app", group, "serve", "--host", host, "--port", str(port)]
        return subprocess.Popen(command + flags, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    settings_class = _settings_class(group)
    settings_fd = settings_pipe(settings_class.from_config(load_settings(env, INSTANCE)).to_json())
    try:
        arguments, child_env = service_command(settings_class.MODULE, settings_fd, host, port, live=live, environ=env)
        return subprocess.Popen(
            arguments, cwd=ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT, pass_fds=(settings_fd,)
        )
    finally:
        os.close(settings_fd)


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
    cli: bool = False,
) -> ServiceProcess:
    """The service of `flask <group> serve` with the secrets of `config` (an app.config), reading the app
    at `app_url`; returns once its /healthz answers. `cli`: started through the Flask CLI."""
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
    proc = spawn_lean(group, env, "127.0.0.1", port, live=bool(publish_url), cli=cli, log=log_file)
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
