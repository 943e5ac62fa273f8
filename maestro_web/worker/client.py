"""HTTP client of the analytics front: the worker's only way to reach the app (SPEC §3.3, §6).

The worker signs its own short-lived tokens with MAESTRO_SECRETJWT_ANALYTICS and never touches
the database, so workers can run on other machines and scale out.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import requests

from maestro_web.keyring import KeyRing
from maestro_web.logs import REQUEST_ID_HEADER, current_request_id
from maestro_web.security.worker_tokens import ANY_GRAPH, mint_result_token, mint_worker_token

log = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}


class FrontUnavailable(Exception):
    """The analytics front could not be reached (or kept failing) after every retry."""


class FrontClient:
    def __init__(
        self,
        base_url: str,
        ring: KeyRing,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.ring = ring
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.session = session or requests.Session()

    def _request(
        self,
        path: str,
        graph_id: str,
        mint: Callable[[], str] | None = None,
        headers_extra: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """POST with a fresh token (from `mint`, else one for `graph_id`); network errors and 429/5xx
        are retried with backoff. The current request id (the worker's id for the job at hand) goes in
        `X-Request-ID`, so the app's log lines of the claim and of the result name the same id."""
        delay = self.backoff
        headers_extra = dict(headers_extra or {})
        request_id = current_request_id()
        if request_id:
            headers_extra[REQUEST_ID_HEADER] = request_id
        for attempt in range(self.retries + 1):
            token = mint() if mint is not None else mint_worker_token(self.ring, graph_id, lifetime=300)
            try:
                response = self.session.post(
                    f"{self.base_url}{path}",
                    headers={"Authorization": f"JWT {token}", **headers_extra},
                    timeout=self.timeout,
                    **kwargs,
                )
            except requests.RequestException as exc:
                problem = type(exc).__name__
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                problem = f"HTTP {response.status_code}"
                retry_after = response.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    delay = max(delay, float(retry_after))
            if attempt == self.retries:
                raise FrontUnavailable(f"{path}: {problem} after {self.retries + 1} attempts")
            log.warning("Analytics front %s: %s; retrying in %.1fs", path, problem, delay)
            self.sleep(delay)
            delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")

    def claim(self) -> dict[str, Any] | None:
        """The next job {graph_id, run_id, type, name, spec}, or None when none is waiting."""
        response = self._request("/jobs/claim", ANY_GRAPH)
        if response.status_code == 204:
            return None
        if response.status_code != 200:
            raise FrontUnavailable(f"job claim answered {response.status_code}: {response.text[:200]}")
        return response.json()

    def post_result(self, graph_id: str, payload: dict[str, Any]) -> requests.Response:
        """Post a result for one graph, with a token bound to its run and to these very bytes, so
        that nobody who sees the token can post anything else with it."""
        body = json.dumps(payload, separators=(",", ":")).encode()

        def mint() -> str:
            return mint_result_token(self.ring, graph_id, str(payload["run_id"]), body)

        return self._request("/graphs", graph_id, mint, data=body, headers_extra={"Content-Type": "application/json"})
