"""HTTP client of the app's API for one crawl: the service's only way to reach the app (SPEC §11).

Every call carries the user's command token the app sent with the crawl; the app accepts it only on
these two endpoints of that graph, and its role rules decide. Nothing here logs the token.
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, TypeVar

import requests

from maestro_web.service_kit import CLAIM_HEADER, ApiClient, AppRefused, refusal_message

__all__ = ["AppClient", "AppRefused", "CrawlInput", "EndedMeanwhile"]

CHUNK = 256 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # bigger inputs (OTLP traces) go to a temporary file, not memory
SENDINGS = 3  # a call whose answer was lost on the way, made again (1 s, then 2 s later) when that is safe
# What a sent request may meet after the app took it: the app killed mid-answer, a body cut short, a timeout.
LOST_ANSWER = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout)
# The same, less the timeout: an app still working on the first write must not meet a second one.
APP_GONE = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)

log = logging.getLogger(__name__)

T = TypeVar("T")


def _made_again(call: Callable[[], T], lost: tuple[type[Exception], ...], what: str, crawl: str) -> tuple[T, int]:
    """`call()`, made again (SENDINGS times in all) while it meets one of `lost`: its value, and how many
    times it was made."""
    attempt = 1
    while True:
        try:
            return call(), attempt
        except lost as exc:
            if attempt >= SENDINGS:
                raise
            log.info("Crawl %s: %s was lost (%s); sending it again", crawl, what, type(exc).__name__)
            time.sleep(attempt)
            attempt += 1


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
        given, _ = _made_again(lambda: self._read_input_once(url, claim), LOST_ANSWER, "the input's answer", crawl)
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
        response, sent = _made_again(
            lambda: self.session.put(url, headers=self._headers(), json=result, timeout=self.timeout),
            APP_GONE,
            "the result's answer",
            crawl,
        )
        if response.status_code == 409 and sent > 1:
            raise EndedMeanwhile(409, refusal_message(response))
        if response.status_code != 200:
            raise AppRefused(response.status_code, refusal_message(response))
        answer: dict[str, Any] = response.json()
        return answer
