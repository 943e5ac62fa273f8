"""Helpers for the picture tests: realistic specs, and a picture drawn by the real reference worker."""

from __future__ import annotations

from worker_support import post_result

from maestro_web.security.worker_tokens import mint_worker_token
from maestro_web.worker.runner import build_result


def platform_spec(services: int = 24) -> str:
    """A platform of 55 nodes by default: frontends, gateways, services fanning into shared stores."""
    lines = [f"web-{i} [kind=frontend] -> gateway-{i % 3}" for i in range(8)]
    lines += [f"gateway-{g} -> auth-service" for g in range(3)]
    lines += [f"gateway-{s % 3} -> service-{s}" for s in range(services)]
    lines += [f"service-{s} -> store-{s % 12} [kind=database]" for s in range(services)]
    lines += [f"service-{s} -> shared-cache [kind=cache]" for s in range(0, services, 2)]
    lines += [f"service-{s} -> events [kind=queue]" for s in range(0, services, 3)]
    lines += [
        "events -> analytics-sink [kind=external]",
        "auth-service -> user-directory [kind=database]",
        "store-0 -> backup-vault [kind=external]",
        "auth-service -> shared-cache",
        "web-0 -> cdn [kind=external]",
        "service-5 -> payments-provider-with-a-long-name [kind=external]",
    ]
    return "\n".join(lines)


def draw_with_the_reference_worker(app, graph_id: str) -> dict:
    """Claim the graph's job and post what the real worker draws for it; the posted result."""
    ring = app.config["KEY_RINGS"]["analytics"]
    client = app.test_client()
    job = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {mint_worker_token(ring)}"}).json
    assert job["graph_id"] == graph_id
    result = build_result(job)
    response = post_result(client, ring, graph_id, json=result)
    assert response.status_code == 201, response.text
    return result
