"""HTTP client of the app's API for one report: the service's only way to reach the app (SPEC §12).

Every call carries the user's report command token the app sent with the command; the app accepts it
only on this graph's read endpoints and on this report's upload, and its role rules decide. Nothing
here logs the token.
"""

from __future__ import annotations

from typing import Any

import requests

from maestro_web.service_kit import LOST_ANSWER, ApiClient, AppRefused, made_again, refusal_message

__all__ = ["AppRefused", "ReportClient"]


class ReportClient(ApiClient):
    def _graph_url(self, graph: str) -> str:
        return f"{self.app_url}/api/graphs/{graph}"

    def _get(self, graph: str, path: str) -> requests.Response:
        """`GET /api/graphs/<graph><path>`, asked again when its answer is lost on the way (a read: safe)."""
        url = self._graph_url(graph) + path
        response, _ = made_again(
            lambda: self.session.get(url, headers=self._headers(), timeout=self.timeout),
            LOST_ANSWER,
            f"Graph {graph}: the answer to GET {path or '/'}",
        )
        return response

    def get_json(self, graph: str, path: str = "") -> Any:
        """The JSON answer of `GET /api/graphs/<graph><path>`."""
        response = self._get(graph, path)
        if response.status_code != 200:
            raise AppRefused(response.status_code, refusal_message(response))
        return response.json()

    def get_text(self, graph: str, path: str) -> str | None:
        """The text of `GET /api/graphs/<graph><path>`; None when the app has none (404)."""
        response = self._get(graph, path)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise AppRefused(response.status_code, refusal_message(response))
        return response.text

    def upload(self, graph: str, report: str, data: bytes, media_type: str) -> dict[str, Any]:
        """Store the finished file; the app's answer (the report, `ready`)."""
        return self._put(graph, report, data=data, headers={"Content-Type": media_type})

    def fail(self, graph: str, report: str, message: str) -> dict[str, Any]:
        """End the report `failed` with a message for the person who asked."""
        return self._put(graph, report, json={"status": "failed", "message": message[:1000]})

    def _put(self, graph: str, report: str, **kwargs: Any) -> dict[str, Any]:
        headers = {**self._headers(), **kwargs.pop("headers", {})}
        response = self.session.put(
            f"{self._graph_url(graph)}/reports/{report}", headers=headers, timeout=self.timeout, **kwargs
        )
        if response.status_code != 200:
            raise AppRefused(response.status_code, refusal_message(response))
        answer: dict[str, Any] = response.json()
        return answer
