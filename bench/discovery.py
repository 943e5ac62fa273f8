"""Benchmark: how long discovery's inference takes on large inputs (issue §7), and what memory it needs.

    .venv/bin/python -m bench.discovery [--repeat 5] [--keep DIR]

Generates, from a fixed seed, the inputs the goals name and times `infer(kind, file, {})` on each,
every run in a fresh child process (`python -m bench.discovery --child KIND PATH`), as the
discovery service would: the child opens the file and hands infer the open file, so the otlp kind
streams it. The child reports its own peak RSS (VmHWM: the whole process, the interpreter and
imports included). Reported: the median (and max) over --repeat runs of the
wall time and CPU time of the infer call alone, and the peak RSS.

- kubernetes: 1,000 Deployments (init container, env values naming other Services in all four DNS
  forms, a ConfigMap through envFrom and one through configMapKeyRef, probes, resources) and 1,000
  Services, about 5 MiB — goal ≤ 3 s;
- compose: 2,000 services (depends_on in both forms, links, environment as list and map, network
  aliases), just under the 1 MiB limit — goal ≤ 2 s;
- otlp: about 200,000 spans of 40 services (CLIENT/SERVER pairs, database CLIENT spans, PRODUCER/
  CONSUMER through topics), just under the 50 MiB limit, as JSON lines (the collector's file
  exporter) and as one compact document (read by ijson) — goal ≤ 15 s and ≤ 400 MB peak RSS.

The machine has 2 cores shared with other work: the share of busy cores before the run is printed,
and CPU time is reported next to wall time because it is what the inference itself costs.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness import ROOT, format_table, machine_busy, machine_description

GOALS = {"kubernetes": (3.0, None), "compose": (2.0, None), "otlp": (15.0, 400)}  # seconds, MB


# --- inputs ----------------------------------------------------------------------------------------


def kubernetes_manifests(workloads: int = 1000, seed: int = 7) -> str:
    rng = random.Random(seed)
    namespaces = ["shop", "payments", "search", "platform"]
    documents = []
    for i in range(workloads):
        ns = namespaces[i % len(namespaces)]
        peers = [rng.randrange(workloads) for _ in range(4)]
        forms = [
            f"http://svc-{peers[0]}:8080/api",
            f"svc-{peers[1]}.{namespaces[peers[1] % 4]}:9000",
            f"grpc://svc-{peers[2]}.{namespaces[peers[2] % 4]}.svc:50051",
            f"postgres://app:secret@svc-{peers[3]}.{namespaces[peers[3] % 4]}.svc.cluster.local:5432/db",
        ]
        env = "".join(
            f"""            - name: PEER_{n}_URL
              value: "{value}"
"""
            for n, value in enumerate(forms)
        )
        env += "".join(
            f"""            - name: SETTING_{n}
              value: "value-{rng.randrange(10**6)}"
"""
            for n in range(28)
        )
        proxy_env = "".join(
            f"""            - name: ENVOY_{n}
              value: "{rng.randrange(10**9)}"
"""
            for n in range(12)
        )
        documents.append(f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: {ns}
  labels: {{app: app-{i}, team: team-{i % 17}, tier: backend}}
  annotations:
    deployment.kubernetes.io/revision: "{rng.randrange(1, 40)}"
    maestro.example/owner: "team-{i % 17}@example.com"
spec:
  replicas: {rng.randrange(1, 6)}
  selector:
    matchLabels: {{app: app-{i}}}
  template:
    metadata:
      labels: {{app: app-{i}, team: team-{i % 17}, tier: backend}}
    spec:
      initContainers:
        - name: wait-for-db
          image: busybox:1.36
          command: ["sh", "-c", "until nc -z svc-{peers[3]}.{namespaces[peers[3] % 4]} 5432; do sleep 2; done"]
      containers:
        - name: app
          image: registry.example.com/team-{i % 17}/app-{i}:1.{rng.randrange(100)}.{rng.randrange(100)}
          args: ["--listen=:8080", "--cache=redis://svc-{(i + 1) % workloads}.{namespaces[(i + 1) % 4]}:6379"]
          ports: [{{containerPort: 8080, name: http}}]
          env:
{env}            - name: FEATURE_FLAGS
              valueFrom:
                configMapKeyRef: {{name: config-{i // 10}, key: flags}}
          envFrom:
            - configMapRef: {{name: config-{i // 10}}}
          volumeMounts:
            - {{name: config, mountPath: /etc/app, readOnly: true}}
            - {{name: tmp, mountPath: /tmp}}
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{cpu: "1", memory: 512Mi}}
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 10
          livenessProbe:
            httpGet: {{path: /healthz, port: http}}
            initialDelaySeconds: 30
        - name: proxy
          image: envoyproxy/envoy:v1.31.0
          args: ["--config-path", "/etc/envoy/envoy.yaml", "--service-cluster", "app-{i}", "--log-level", "warn"]
          ports: [{{containerPort: 15001, name: proxy}}]
          env:
{proxy_env}          resources:
            requests: {{cpu: 50m, memory: 64Mi}}
      volumes:
        - name: config
          configMap: {{name: config-{i // 10}}}
        - name: tmp
          emptyDir: {{}}
---
apiVersion: v1
kind: Service
metadata:
  name: svc-{i}
  namespace: {ns}
  labels: {{app: app-{i}}}
spec:
  selector: {{app: app-{i}}}
  ports:
    - {{name: http, port: 8080, targetPort: http}}
""")
        if i % 10 == 0:
            documents.append(f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: config-{i // 10}, namespace: {ns}}}
data:
  flags: "checkout-v2,search-ranking"
  EVENTS_BROKER: "svc-{rng.randrange(workloads)}.{namespaces[rng.randrange(4)]}.svc.cluster.local:9092"
  LOG_LEVEL: info
""")
    return "---\n".join(documents)


def compose_file(services: int = 2000, seed: int = 7) -> str:
    rng = random.Random(seed)
    lines = ["services:"]
    images = ["example/api:1", "postgres:16", "redis:7", "rabbitmq:3", "example/web:2"]
    for i in range(services):
        peers = [rng.randrange(services) for _ in range(3)]
        lines.append(f"  s{i}:")
        lines.append(f"    image: {images[i % len(images)]}")
        if i % 2:
            lines.append(f"    depends_on: [s{peers[0]}]")
        else:
            lines.append(f"    depends_on:\n      s{peers[0]}: {{condition: service_started}}")
        if i % 7 == 0:
            lines.append(f'    links: ["s{peers[1]}:alias{i}"]')
        settings = [(f"SETTING_{n}", f"value-{rng.randrange(10**6)}") for n in range(6)]
        if i % 3:
            lines.append("    environment:")
            lines.append(f"      URL: http://s{peers[1]}:80/x")
            lines.append(f"      DSN: postgres://u:p@s{peers[2]}:5432/d")
            lines += [f"      {key}: {value}" for key, value in settings]
        else:
            lines.append("    environment:")
            lines.append(f"      - URL=http://s{peers[1]}:80/x")
            lines.append(f"      - CACHE=alias{i}:6379" if i % 7 == 0 else f"      - CACHE=s{peers[2]}:6379")
            lines += [f"      - {key}={value}" for key, value in settings]
        lines.append(f'    command: ["serve", "--port", "80", "--peer", "s{peers[2]}:80"]')
        lines.append("    restart: unless-stopped")
        if i % 11 == 0:
            lines.append(f"    networks: {{back: {{aliases: [n{i}.internal]}}}}")
    lines.append("networks:\n  back: {}")
    return "\n".join(lines) + "\n"


def otlp_spans(path: Path, limit_bytes: int, as_lines: bool, seed: int = 7) -> int:
    """Traces of 40 services until the file is nearly limit_bytes; returns the number of spans."""
    rng = random.Random(seed)
    services = [f"service-{n}" for n in range(40)]
    now = 1_764_000_000_000_000_000
    spans_by_service: dict[str, list[dict]] = {}
    written, count = 0, 0
    handle = path.open("w")
    blocks: list[str] = []

    def span(
        trace: str,
        span_id: str,
        parent: str | None,
        kind: int,
        start: int,
        ms: float,
        attributes: dict[str, str] | None = None,
    ) -> dict:
        item: dict = {
            "traceId": trace,
            "spanId": span_id,
            "name": "op",
            "kind": kind,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + int(ms * 1e6)),
        }
        if parent:
            item["parentSpanId"] = parent
        if attributes:
            item["attributes"] = [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()]
        return item

    def flush() -> None:
        nonlocal written
        for service, items in spans_by_service.items():
            block = json.dumps(
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeSpans": [{"scope": {"name": "bench"}, "spans": items}],
                },
                separators=(",", ":"),
            )
            blocks.append(block)
            written += len(block) + 1
        spans_by_service.clear()

    while written < limit_bytes - 400_000:
        for _ in range(200):
            trace = "%032x" % rng.getrandbits(128)
            caller, callee = rng.sample(services, 2)
            client, server = "%016x" % rng.getrandbits(64), "%016x" % rng.getrandbits(64)
            start = now + count * 1000
            ms = rng.lognormvariate(2.5, 0.8)
            spans_by_service.setdefault(caller, []).append(span(trace, client, None, 3, start, ms))
            spans_by_service.setdefault(callee, []).append(span(trace, server, client, 2, start, ms * 0.9))
            count += 2
            if rng.random() < 0.5:
                spans_by_service[callee].append(
                    span(
                        trace,
                        "%016x" % rng.getrandbits(64),
                        server,
                        3,
                        start,
                        ms / 3,
                        {"db.system.name": "postgresql", "server.address": f"db-{callee[-1]}"},
                    )
                )
                count += 1
            if rng.random() < 0.2:
                producer = "%016x" % rng.getrandbits(64)
                consumer = rng.choice(services)
                spans_by_service[callee].append(
                    span(trace, producer, server, 4, start, 1.0, {"messaging.destination.name": f"topic-{callee[-1]}"})
                )
                spans_by_service.setdefault(consumer, []).append(
                    span(
                        trace,
                        "%016x" % rng.getrandbits(64),
                        producer,
                        5,
                        start,
                        4.0,
                        {"messaging.destination.name": f"topic-{callee[-1]}"},
                    )
                )
                count += 2
        flush()
    if as_lines:
        for block in blocks:
            handle.write('{"resourceSpans":[' + block + "]}\n")
    else:
        handle.write('{"resourceSpans":[' + ",".join(blocks) + "]}")
    handle.close()
    return count


# --- measuring ------------------------------------------------------------------------------------


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    nodes: int
    edges: int


def run_child(kind: str, path: Path) -> Run:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.discovery", "--child", kind, str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    if process.wait() != 0:
        raise SystemExit(f"the {kind} child failed ({process.returncode})")
    result = json.loads(output)
    return Run(result["wall"], result["cpu"], result["peak_rss_kib"] / 1024, result["nodes"], result["edges"])


def child(kind: str, path: str) -> None:
    from maestro_web.discovery.inference import infer

    with open(path, "rb") as handle:
        wall, cpu = time.perf_counter(), time.process_time()
        result = infer(kind, handle, {})
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "nodes": len(result.nodes),
                "edges": len(result.edges),
                "problems": result.problems,
                "peak_rss_kib": _peak_rss_kib(),
            }
        )
    )


def _peak_rss_kib() -> int:
    """This process's peak resident memory since it started (VmHWM). Not ru_maxrss: Linux carries
    that across exec, so a child forked from a parent holding the generated inputs would report the
    parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per input (medians reported)")
    parser.add_argument("--keep", type=Path, help="write the inputs here and keep them (default: a temp folder)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    from maestro_web.discovery.inference import MAX_BYTES

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-discovery-"))
    folder.mkdir(parents=True, exist_ok=True)
    inputs: list[tuple[str, str, Path, str]] = []  # label, kind, path, size words
    k8s = folder / "kubernetes.yaml"
    k8s.write_text(kubernetes_manifests())
    inputs.append(("kubernetes: 1,000 Deployments + 1,000 Services", "kubernetes", k8s, ""))
    compose = folder / "compose.yaml"
    compose.write_text(compose_file())
    inputs.append(("compose: 2,000 services", "compose", compose, ""))
    spans_lines = otlp_spans(folder / "otlp.jsonl", MAX_BYTES["otlp"], as_lines=True)
    inputs.append((f"otlp: {spans_lines:,} spans, JSON lines", "otlp", folder / "otlp.jsonl", ""))
    spans_doc = otlp_spans(folder / "otlp.json", MAX_BYTES["otlp"], as_lines=False)
    inputs.append((f"otlp: {spans_doc:,} spans, one document (ijson)", "otlp", folder / "otlp.json", ""))
    for label, kind, path, _ in inputs:
        assert path.stat().st_size <= MAX_BYTES[kind], (label, path.stat().st_size)

    busy = machine_busy(1.0)
    rows = []
    ok = True
    for label, kind, path, _ in inputs:
        runs = [run_child(kind, path) for _ in range(args.repeat)]
        wall = statistics.median(r.wall for r in runs)
        rss = max(r.rss_mb for r in runs)
        seconds, megabytes = GOALS[kind]
        met = wall <= seconds and (megabytes is None or rss <= megabytes)
        ok = ok and met
        rows.append(
            [
                label,
                f"{path.stat().st_size / 2**20:.1f}",
                f"{runs[0].nodes:,} / {runs[0].edges:,}",
                f"{wall:.2f}",
                f"{max(r.wall for r in runs):.2f}",
                f"{statistics.median(r.cpu for r in runs):.2f}",
                f"{statistics.median(r.rss_mb for r in runs):.0f} (max {rss:.0f})",
                f"≤ {seconds:g} s" + (f", ≤ {megabytes} MB" if megabytes else ""),
                "yes" if met else "NO",
            ]
        )
    machine = machine_description()
    print(f"Command: `python -m bench.discovery {' '.join(argv if argv is not None else sys.argv[1:])}`\n")
    print(
        f"Machine: {machine['cores']} cores, {machine['cpu']}, {machine['memory']}, Python {machine['python']}, "
        f"{machine['date']}, code {machine['code']}; cores busy with other work before the run: "
        f"{'unknown' if busy is None else f'{busy:.0%}'}.\n"
    )
    print(
        format_table(
            [
                "input",
                "MiB",
                "nodes / edges",
                "wall s (median)",
                "wall s (max)",
                "CPU s (median)",
                "peak RSS MB",
                "goal",
                "met",
            ],
            rows,
        )
    )
    if not args.keep:
        for _, _, path, _ in inputs:
            path.unlink()
        folder.rmdir()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
