"""HTTP client of the app's API for one crawl: the service's only way to reach the app (SPEC §11).

Every call carries the user's command token the app sent with the crawl; the app accepts it only on
these two endpoints of that graph, and its role rules decide. Nothing here logs the token.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from typing import IO, Any

from maestro_web.service_kit import ApiClient, AppRefused, refusal_message

__all__ = ["AppClient", "AppRefused", "CrawlInput"]

CHUNK = 256 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # bigger inputs (OTLP traces) go to a temporary file, not memory


@dataclass
class CrawlInput:
    kind: str
    settings: dict[str, Any]
    sealed_credentials: str | None
    data: IO[bytes]  # positioned at the start; closed by the caller
    size: int


class AppClient(ApiClient):
    def _crawl_url(self, graph: str, source: str, crawl: str) -> str:
        return f"{self.app_url}/api/graphs/{graph}/sources/{source}/crawls/{crawl}"

    def read_input(self, graph: str, source: str, crawl: str) -> CrawlInput:
        """The source's input (streamed into a spooled file) and how to read it; claims the crawl."""
        url = self._crawl_url(graph, source, crawl) + "/input"
        with self.session.get(url, headers=self._headers(), timeout=self.timeout, stream=True) as response:
            if response.status_code != 200:
                raise AppRefused(response.status_code, refusal_message(response))
            spooled: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
            size = 0
            for chunk in response.iter_content(CHUNK):
                spooled.write(chunk)
                size += len(chunk)
            spooled.seek(0)
            settings = json.loads(response.headers.get("X-Maestro-Source-Settings") or "{}")
            return CrawlInput(
                kind=response.headers.get("X-Maestro-Source-Kind", ""),
                settings=settings,
                sealed_credentials=response.headers.get("X-Maestro-Sealed-Credentials"),
                data=spooled,
                size=size,
            )

    def put_result(self, graph: str, source: str, crawl: str, result: dict[str, Any]) -> dict[str, Any]:
        """Write the crawl's result; the app's answer (the crawl with its counts)."""
        response = self.session.put(
            self._crawl_url(graph, source, crawl), headers=self._headers(), json=result, timeout=self.timeout
        )
        if response.status_code != 200:
            raise AppRefused(response.status_code, refusal_message(response))
        answer: dict[str, Any] = response.json()
        return answer
