"""The real Redis of the tests (127.0.0.1:6379, or MAESTRO_TEST_REDIS_URL): app settings that put the
limiter on it under a key prefix of the test's own, so parallel tests never share a counter."""

from __future__ import annotations

import os
from typing import Any

import pytest
import redis

REDIS_URL = os.environ.get("MAESTRO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def limiter_on_redis(request: pytest.FixtureRequest, prefix: str) -> dict[str, Any]:
    """App settings with the limiter on the real Redis under `prefix`, then the test's
    @pytest.mark.app_settings overrides (nearest marker winning)."""
    settings: dict[str, Any] = {
        "REDIS_URL": REDIS_URL,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_KEY_PREFIX": prefix,
    }
    for marker in reversed(list(request.node.iter_markers("app_settings"))):
        settings.update(marker.kwargs)
    return settings


def delete_prefixed(client: redis.Redis, prefix: str) -> None:
    """Remove every key a test wrote under its prefix."""
    keys = list(client.scan_iter(f"*{prefix}*"))
    if keys:
        client.delete(*keys)
