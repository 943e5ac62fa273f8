"""HTTP client of the app's API for one crawl: the service's only way to reach the app (SPEC §11).

Every call carries the user's command token the app sent with the crawl; the app accepts it only on
these two endpoints of that graph, and its role rules decide. Nothing here logs the token.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from dataclasses import dataclass
from typing import IO, Any

from maestro_web.service_kit import (
    APP_GONE,
    CLAIM_HEADER,
    LOST_ANSWER,
    ApiClient,
    AppRefused,
    made_again,
    refusal_message,
)

__all__ = ["AppClient", "AppRefused", "CrawlInput", "EndedMeanwhile"]

CHUNK = 256 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # bigger inputs (OTLP traces) go to a temporary file, not memory


class EndedMeanwhile(AppRefused):
    """A result sent again was refused because the crawl has ended: most likely the app had taken the
    first one and only its answer was lost (or the crawl ended otherwise meanwhile)."""


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
        """The source's input (streamed into a spooled file) and how to read it; claims the crawl.

        The claim is a random string of this read's own (X-Maestro-Claim): when the answer is lost after
        the app committed the claim (killed mid-answer), the same claim reads again, and the crawl goes
        on instead of waiting out the dead-service margin. Another process's read is still refused."""
        url, claim = self._crawl_url(graph, source, crawl) + "/input", secrets.token_urlsafe(24)
        given, _ = made_again(
            lambda: self._read_input_once(url, claim), LOST_ANSWER, f"Crawl {crawl}: the input's answer"
        )
        return given

    def _read_input_once(self, url: str, claim: str) -> CrawlInput:
        headers = {**self._headers(), CLAIM_HEADER: claim}
        with self.session.get(url, headers=headers, timeout=self.timeout, stream=True) as response:
            if response.status_code != 200:
                raise AppRefused(response.status_code, refusal_message(response))
            spooled: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
            size = 0
            try:
                for chunk in response.iter_content(CHUNK):
                    spooled.write(chunk)
                    size += len(chunk)
            except BaseException:  # cut short: the next read starts a file of its own
                spooled.close()
                raise
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
        """Write the crawl's result; the app's answer (the crawl with its counts).

        A write whose connection broke after it was sent (the app killed mid-request) is sent again: if
        the app had not committed it, the second one is the crawl's result; if it had, the crawl has
        ended and the second is refused with 409 (EndedMeanwhile). Not after a timeout: the app may
        still be working on the first."""
        url = self._crawl_url(graph, source, crawl)
        response, sent = made_again(
            lambda: self.session.put(url, headers=self._headers(), json=result, timeout=self.timeout),
            APP_GONE,
            f"Crawl {crawl}: the result's answer",
        )
        if response.status_code == 409 and sent > 1:
            raise EndedMeanwhile(409, refusal_message(response))
        if response.status_code != 200:
            raise AppRefused(response.status_code, refusal_message(response))
        answer: dict[str, Any] = response.json()
        return answer
