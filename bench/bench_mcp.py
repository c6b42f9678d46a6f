"""Latency of a tool call over MCP, stdio and streamable HTTP, against the same call in-process.

    python bench/bench_mcp.py [--customers 5000] [--repeat 40]

Builds (once) a synthetic store in its own database `cib_bench_mcp` (as bench_tools does), then
starts the real servers as subprocesses — `python app.py mcp` (stdio) and `python app.py serve`
with MCP_TOKEN (HTTP at /mcp) — and drives each with the SDK's client through one session. Tools:
lookup_customer (cheap) on `--repeat` different customers, analyze_customers (heavier: ranking with
a segment filter) on `--repeat` sort/segment combinations. First pass = the server computes the
answer (its in-process cache is empty for those arguments), second pass = the same calls again
(answered from its cache), so the second pass shows mostly the protocol's own cost.
"""
from __future__ import annotations

import argparse
import logging
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_tools import ensure_database, percentile, prepare_store  # noqa: E402
from mcp.client.session import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared._httpx_utils import create_mcp_http_client  # noqa: E402

from analytics.cache import Cache  # noqa: E402
from analytics.context import build_context  # noqa: E402
from analytics.tools.registry import run_tool  # noqa: E402
from settings import load_settings  # noqa: E402
from sql.database import Database  # noqa: E402

TOKEN = "bench-mcp-token"
SECRET = "bench-secret"


def plan(db: Database, n: int) -> dict[str, list[dict]]:
    with db.cursor() as cur:
        cur.execute("SELECT c.public_id FROM customer_profiles p JOIN customers c USING (customer_id) "
                    "WHERE p.run_id = (SELECT run_id FROM discovery_runs WHERE is_current)")
        ids = [r["public_id"] for r in cur.fetchall()]
        cur.execute("SELECT axis || ':' || name AS seg FROM segments WHERE members > 0 AND run_id = "
                    "(SELECT run_id FROM discovery_runs WHERE is_current)")
        segments = [r["seg"] for r in cur.fetchall()]
    sorts = ["churn_risk", "value", "predicted_value", "recency", "frequency"]
    combos = [{"sort_by": s, "segment": g, "limit": 20} for g in segments for s in sorts]
    rng = random.Random(7)
    return {"lookup_customer": [{"customer": c} for c in rng.sample(ids, min(n, len(ids)))],
            "analyze_customers": rng.sample(combos, min(n, len(combos)))}


async def timed_session(session: ClientSession, calls: dict[str, list[dict]]) -> dict[tuple[str, str], list[float]]:
    await session.initialize()
    await session.list_tools()
    await session.call_tool("store_metrics", {})     # warm-up (imports, pool), not measured
    timings: dict[tuple[str, str], list[float]] = {}
    for name, arguments in calls.items():
        for mode in ("computed", "cached"):
            found = timings.setdefault((name, mode), [])
            for args in arguments:
                started = time.perf_counter()
                result = await session.call_tool(name, args)
                found.append((time.perf_counter() - started) * 1000)
                if result.is_error:
                    raise RuntimeError(f"{name}({args}): {result.content[0].text}")
    return timings


def server_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "SLACK_", "GORGIAS_", "MCP_"))}
    env.pop("REDIS_URL", None)
    env.update(DATABASE_URL=url, PSEUDONYM_SECRET=SECRET, LOG_LEVEL="WARNING", **extra)
    return env


def over_stdio(url: str, calls) -> dict:
    async def main():
        params = StdioServerParameters(command=sys.executable, args=["app.py", "mcp"], cwd=str(ROOT),
                                       env=server_env(url))
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            return await timed_session(session, calls)

    return anyio.run(main)


def over_http(url: str, calls) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "app.py", "serve", "--host", "127.0.0.1"], cwd=ROOT,
                              env=server_env(url, MCP_TOKEN=TOKEN, PORT=str(port), DISCOVERY_CRON="0 0 1 1 *",
                                             MCP_REQUESTS_PER_MINUTE="1000000"),  # time calls, not the limit
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("serve did not start")
            time.sleep(0.2)

        async def main():
            async with create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"}) as client, \
                    streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=client) as (read, write), \
                    ClientSession(read, write) as session:
                return await timed_session(session, calls)

        return anyio.run(main)
    finally:
        server.terminate()
        server.wait(10)


def in_process(settings, db, calls) -> dict:
    ctx = build_context(settings, db, Cache(None))
    run_tool(ctx, "store_metrics", {})
    timings: dict[tuple[str, str], list[float]] = {}
    for name, arguments in calls.items():
        for mode in ("computed", "cached"):
            found = timings.setdefault((name, mode), [])
            for args in arguments:
                started = time.perf_counter()
                run_tool(ctx, name, args)
                found.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=40, help="different calls per tool")
    parser.add_argument("--database", default="cib_bench_mcp")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    url = ensure_database(args.database)
    settings = load_settings(database_url=url, redis_url=None, pseudonym_secret=SECRET,
                             data_dir=Path("/tmp/cib_bench_mcp"), _env_file=None)
    db = Database(url)
    try:
        prepare_store(db, settings, args.customers)
        calls = plan(db, args.repeat)
        results = {"in-process": in_process(settings, db, calls)}
    finally:
        db.close()
    results["stdio"] = over_stdio(url, calls)
    results["http"] = over_http(url, calls)

    print(f"\n{args.customers:,}-customer synthetic store; {args.repeat} different calls per tool, "
          "each twice (computed, then from the server's cache); one client session per transport\n")
    header = f"{'transport':11} {'tool':18} {'pass':9} {'calls':>5} {'p50 ms':>8} {'p95 ms':>8}"
    print(header)
    print("-" * len(header))
    for transport, timings in results.items():
        for (name, mode), values in timings.items():
            print(f"{transport:11} {name:18} {mode:9} {len(values):5d} {percentile(values, 0.5):8.1f} "
                  f"{percentile(values, 0.95):8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
