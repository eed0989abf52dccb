"""Load test of `model2vec serve`: throughput and latency of POST /v1/embeddings under N concurrent users.

Starts the real command (`python -m model2vec.cli serve MODEL --port 0`) on a loopback port the system
picks (read from the command's "Serving ... on URL" line), waits for /health, then drives it with
locust (its Python API, headless, no web UI): `--users` closed-loop users, each posting `--batch`
sentences per request with no think time, for `--warmup` seconds (discarded) and then `--duration`
measured seconds. Prints requests/s, texts/s and p50/p90/p99 latency and writes them
to benchmarks/results/serve.json.

Texts are real sentences (benchmarks/results/encode_sentences_*.json, cut from ../shared/data/corpus by
benchmarks/encode.py), else the reference fixture's golden sentences. The model defaults to
models/minilm-distilled (`make distill`), else ../shared/fixtures/reference-format/m2v-minilm-l6-fp16.

    .venv/bin/python benchmarks/serve.py                        # 8 users, batch 16, 30 s
    .venv/bin/python benchmarks/serve.py --users 32 --batch 1 --duration 60

The client (locust, gevent) and the server share this machine's cores, so absolute figures are a
lower bound for a server with a machine to itself; the JSON records the core count and load average.
"""

from __future__ import annotations

# locust monkey-patches the standard library with gevent when imported; it must come first.
from locust import FastHttpUser, constant, events, task  # isort: skip
from locust.env import Environment  # isort: skip

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gevent

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED = ROOT.parent / "shared"
MODELS = [ROOT / "models" / "minilm-distilled", SHARED / "fixtures" / "reference-format" / "m2v-minilm-l6-fp16"]


def load_sentences() -> list[str]:
    """Real sentences: the encode benchmark's cached corpus cut if present, else the golden fixture."""
    for path in sorted(RESULTS.glob("encode_sentences_*.json")):
        sentences = json.loads(path.read_text())
        if sentences:
            return [str(s) for s in sentences[:20_000]]
    golden = SHARED / "fixtures" / "reference-format" / "golden_sentences.json"
    if golden.exists():
        return [str(s) for s in json.loads(golden.read_text())["sentences"]]
    return [f"sentence number {i} about cats, dogs and the weather" for i in range(1000)]


def start_server(model: Path, extra: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Run `model2vec serve` on a port the system picks (`--port 0`), wait until /health answers.

    The port is read from the command's "Serving ... on URL" line, so no other process can take it
    between choosing and binding it.

    :return: The server process and its base URL.
    """
    import urllib.request

    command = [sys.executable, "-m", "model2vec.cli", "serve", str(model), "--port", "0"]
    command += ["--log-level", "warning", *extra]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    announced = process.stdout.readline()
    if not announced.startswith("Serving "):
        process.kill()
        raise SystemExit("the server did not start")
    print(announced, end="")
    url = announced.rsplit(" on ", 1)[1].strip()
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                print("server:", response.read().decode())
                return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise SystemExit("the server did not start") from None
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="Model folder (default: the distilled model, else the fixture).")
    parser.add_argument("--users", type=int, default=8, help="Concurrent closed-loop users.")
    parser.add_argument("--batch", type=int, default=16, help="Sentences per request.")
    parser.add_argument("--duration", type=float, default=30.0, help="Measured seconds.")
    parser.add_argument("--warmup", type=float, default=5.0, help="Seconds run before measuring (discarded).")
    parser.add_argument("--encoding-format", choices=["float", "base64"], default="float")
    parser.add_argument("--server-arg", action="append", default=[], help="Extra argument for `model2vec serve`.")
    parser.add_argument("--out", type=Path, default=RESULTS / "serve.json")
    args = parser.parse_args()
    model = args.model or next((m for m in MODELS if (m / "model.safetensors").exists()), None)
    if model is None:
        raise SystemExit("No model: run `make distill` or pass --model.")
    sentences = load_sentences()
    load_before = os.getloadavg()
    server, url = start_server(model, args.server_arg)
    batches = itertools.cycle([sentences[i : i + args.batch] for i in range(0, len(sentences), args.batch)])
    payload = {"encoding_format": args.encoding_format}
    errors: list[str] = []

    class EmbeddingUser(FastHttpUser):
        host = url
        wait_time = constant(0)

        @task
        def embed(self) -> None:
            texts = next(batches)
            with self.client.post("/v1/embeddings", json={"input": texts, **payload}, catch_response=True) as reply:
                # Counting the vectors without parsing them keeps the client's share of the CPU small.
                if reply.status_code != 200 or reply.text.count('"object":"embedding"') != len(texts):
                    errors.append(f"{reply.status_code}: {reply.text[:200]}")
                    reply.failure(f"status {reply.status_code}")

    try:
        env = Environment(user_classes=[EmbeddingUser], events=events)
        runner = env.create_local_runner()
        runner.start(args.users, spawn_rate=args.users)
        gevent.sleep(args.warmup)
        env.stats.reset_all()
        started = time.perf_counter()
        gevent.sleep(args.duration)
        total = env.stats.total
        elapsed = time.perf_counter() - started
        requests, failures = total.num_requests, total.num_failures
        percentiles = {f"p{int(q * 100)}_ms": total.get_response_time_percentile(q) for q in (0.5, 0.9, 0.99)}
        mean_ms = total.avg_response_time
        runner.quit()
    finally:
        server.terminate()
        server.wait(timeout=30)
    load_after = os.getloadavg()
    result: dict[str, Any] = {
        "command": " ".join([sys.executable, *sys.argv]),
        "model": str(model),
        "users": args.users,
        "batch": args.batch,
        "duration_s": round(elapsed, 2),
        "warmup_s": args.warmup,
        "encoding_format": args.encoding_format,
        "requests": requests,
        "failures": failures,
        "requests_per_s": round(requests / elapsed, 1),
        "texts_per_s": round(requests * args.batch / elapsed, 1),
        "mean_ms": round(mean_ms, 2),
        **percentiles,
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "python": platform.python_version(),
        "note": "client (locust) and server share the machine's cores; other jobs may run alongside",
    }
    print(f"\n$ {result['command']}")
    print(f"model {model}, {args.users} users, batch {args.batch}, {elapsed:.1f} s measured ({args.warmup} s warm-up)")
    print(f"{requests} requests, {failures} failures")
    print(f"throughput: {result['requests_per_s']} req/s, {result['texts_per_s']} texts/s")
    p50, p90, p99 = (percentiles[k] for k in ("p50_ms", "p90_ms", "p99_ms"))
    print(f"latency: p50 {p50} ms, p90 {p90} ms, p99 {p99} ms, mean {mean_ms:.1f} ms")
    print(f"machine: {os.cpu_count()} cores shared by client and server; load average before {load_before[0]:.2f}")
    if errors:
        print("first errors:", *errors[:3], sep="\n  ")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
