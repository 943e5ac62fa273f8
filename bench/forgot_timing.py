"""Benchmark: does `POST /auth/forgot` take the same time for a known and an unknown address?

    .venv/bin/python -m bench.forgot_timing --requests 400

SPEC §3.4 asks for the same answer *and the same timing* whether or not an account exists. This
measures the server-side duration of the request (Flask's test client, in one process, no network:
the quantity an attacker would try to read through the noise), alternating a known and an unknown
address so both see the same machine load. Mail goes to a real SMTP server on loopback (aiosmtpd),
as in production; sending happens on the mail thread, off the request path.

Reports the median and the 90th percentile of each, and the ratio of the medians (1.00 = equal).
Uses a fresh SQLite file in a temp folder; rate limits are off (they would stop the run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import machine_description


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per kind of address (default 400)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from flask_migrate import upgrade
    from mail_support import SmtpServer

    from maestro_web import create_app
    from maestro_web.extensions import db
    from maestro_web.mail import wait_for_pending
    from maestro_web.models import User

    with tempfile.TemporaryDirectory(prefix="maestro-bench-") as folder, SmtpServer() as smtp:
        app = create_app(
            {
                "MAESTRO_ENV": "testing",
                "INSTANCE_PATH": folder,
                "RATELIMIT_ENABLED": False,
                "WTF_CSRF_ENABLED": False,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db",
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": smtp.port,
                "LOG_LEVEL": "WARNING",
            },
            environ={},
        )
        with app.app_context():
            upgrade()
            User.create("known@example.com", "Known", "correct horse battery")
            db.session.commit()
        client = app.test_client()
        timings: dict[str, list[float]] = {"known": [], "unknown": []}
        for number in range(args.requests + 20):
            for kind, email in (("known", "known@example.com"), ("unknown", f"nobody{number}@example.com")):
                started = time.perf_counter()
                response = client.post("/auth/forgot", data={"email": email})
                elapsed = time.perf_counter() - started
                assert response.status_code == 200, response.status_code
                if number >= 20:  # the first requests warm caches and the template loader
                    timings[kind].append(elapsed * 1000)
        wait_for_pending(timeout=60)
        sent = len(smtp.inbox.messages)

    print(f"POST /auth/forgot, {args.requests} requests per kind, alternating; {sent} messages received by SMTP")
    print("| address | median ms | p90 ms |")
    print("|---|---|---|")
    for kind, values in timings.items():
        values.sort()
        print(f"| {kind} | {statistics.median(values):.2f} | {values[int(len(values) * 0.9)]:.2f} |")
    ratio = statistics.median(timings["known"]) / statistics.median(timings["unknown"])
    print(f"\nratio of medians (known / unknown): {ratio:.2f}")
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine_description().items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
