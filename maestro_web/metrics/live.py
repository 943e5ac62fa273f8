"""The live server's metrics: connections, subscriptions, publish → deliver latency, dropped slow
subscribers, refused connections and publishes, and the event bus's (Redis's) errors.

The counters and the latency histogram live in this process's registry; the connection and
subscription gauges are read from the hub when scraped (`HubGauges`), so they are never out of step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from maestro_web.metrics import process_registry, start_at_zero

REGISTRY = process_registry()

CONNECTION_REFUSALS = ("origin", "too_many_from_address", "bad_ticket")
PUBLISH_OUTCOMES = ("accepted", "unauthorized", "forbidden", "too_large", "invalid", "bus_unavailable")

# Seconds from an event's acceptance (its id's time) to its hand-over to this process's subscribers.
DELIVERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

DELIVERY_SECONDS = Histogram(
    "maestro_live_delivery_seconds",
    "Time from an event's publish (its id's time) to its hand-over to this process's subscribers.",
    buckets=DELIVERY_BUCKETS,
    registry=REGISTRY,
)
DROPPED_SLOW = Counter(
    "maestro_live_dropped_slow_subscribers",
    "Connections closed because they did not read their events (write buffer over its bound).",
    registry=REGISTRY,
)
PUBLISHES = Counter("maestro_live_publishes", "POST /publish answers, by outcome.", ["outcome"], registry=REGISTRY)
CONNECTIONS_REFUSED = Counter(
    "maestro_live_connections_refused",
    "WebSocket connections refused or closed at hello, by reason.",
    ["reason"],
    registry=REGISTRY,
)
BUS_ERRORS = Counter(
    "maestro_live_bus_errors", "Errors of the event bus (Redis) on publish or history.", registry=REGISTRY
)


start_at_zero(PUBLISHES, PUBLISH_OUTCOMES)
start_at_zero(CONNECTIONS_REFUSED, CONNECTION_REFUSALS)


def _bounded(value: str, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else "other"


def published(outcome: str) -> None:
    PUBLISHES.labels(_bounded(outcome, PUBLISH_OUTCOMES)).inc()


def connection_refused(reason: str) -> None:
    CONNECTIONS_REFUSED.labels(_bounded(reason, CONNECTION_REFUSALS)).inc()


class HubGauges:
    """The hub's open connections and subscriptions, counted when scraped."""

    def __init__(self, connections: Callable[[], int], subscriptions: Callable[[], int]) -> None:
        self.connections = connections
        self.subscriptions = subscriptions

    def collect(self) -> Iterator[Any]:
        yield GaugeMetricFamily("maestro_live_connections", "Open WebSocket connections.", value=self.connections())
        yield GaugeMetricFamily(
            "maestro_live_subscriptions", "Channel subscriptions of the open connections.", value=self.subscriptions()
        )
