"""Gorgias intake and intake-to-note latency: `python bench/bench_gorgias.py [--events 500]`.

Starts the standalone Gorgias server (`python app.py gorgias serve`, a separate process, as in
production) on a throw-away PostgreSQL database holding a generated store, points it at the loopback
fake Gorgias REST API, fires webhooks, and prints:
  - intake latency: webhook POST → 200, measured by the sender (goal p95 ≤ 20 ms);
  - intake-to-note latency: 200 received → note arrives at the fake Gorgias (goal p95 ≤ 500 ms),
    template drafts (no model), so it measures everything except Claude;
  - lost and duplicated notes (goal: zero).
Two loads: a burst (all events at once, `--concurrency` senders) and a paced stream (`--rate`/s).
The fake has no rate limit, so the server's limiter is raised for the run: against real Gorgias,
40 requests / 20 s per API key caps notes at 2 per second whatever the server does.

The sender is a lean asyncio HTTP/1.1 client in its own process (bodies built before the clock),
so neither it nor the fake Gorgias (in this process) shares a GIL with the other; a second table
gives the CPU seconds each side spent (server, its PostgreSQL backends, sender, fake) and their sum
over the wall time, to show whether the machine or the server is the limit.

`--worker-cpu` runs no server: one worker thread in this process drains the inbox and prints its own
CPU per event (the part of a burst's CPU that competes with intake).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from sql.database import Database  # noqa: E402
from tests.fake_gorgias import FakeGorgias, ticket_payload  # noqa: E402

ADMIN_URL = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret"

STORE_SQL = """
INSERT INTO products (sku, title, category, unit_price)
SELECT 'SKU' || g, 'Product ' || g, (ARRAY['fabric','notions','patterns','kits'])[1 + g % 4], 5 + g % 40
FROM generate_series(1, 200) g;
INSERT INTO customers (store_customer_id, email, phone, name, country)
SELECT 'S' || g, 'customer' || g || '@example.com', '+1 555 ' || lpad(g::text, 7, '0'), 'Customer ' || g, 'US'
FROM generate_series(1, {customers}) g;
INSERT INTO orders (store_order_id, customer_id, ordered_at, kind, subtotal, total)
SELECT 'O' || c.customer_id || '-' || k, c.customer_id,
       timestamptz '2024-06-30' - make_interval(days => ((c.customer_id * 7 + k * 37) % 700)::int),
       'sale', 40 + (c.customer_id + k) % 200, 40 + (c.customer_id + k) % 200
FROM customers c CROSS JOIN generate_series(1, 5) k
WHERE k <= 1 + c.customer_id % 5;
INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price)
SELECT o.order_id, 1, 1 + o.order_id % 200, 1 + o.order_id % 3, o.total / (1 + o.order_id % 3) FROM orders o;
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(db_url: str, fake: FakeGorgias, threads: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "GORGIAS_", "REDIS_"))}
    env.update({"DATABASE_URL": db_url, "GORGIAS_WEBHOOK_SECRET": SECRET, "GORGIAS_BASE_URL": fake.url,
                "GORGIAS_USERNAME": "agent@store.test", "GORGIAS_API_KEY": "test-api-key",
                "GORGIAS_WORKER_THREADS": str(threads), "DB_POOL_MAX_SIZE": str(threads + 6), "GORGIAS_RATE_LIMIT_REQUESTS": "100000",
                # Every burst comes from loopback, one source: the per-source webhook limit is not what is measured.
                "GORGIAS_WEBHOOK_REQUESTS": "10000000",
                "PSEUDONYM_SECRET": "bench", "LOG_LEVEL": "WARNING"})
    return env


def start_worker_process(db_url: str, fake: FakeGorgias, threads: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "app.py", "gorgias", "serve", "--worker-only"], cwd=ROOT,
                            env=server_env(db_url, fake, threads))
    # Ready once its LISTEN connection is up (imports take seconds): a burst sent earlier would
    # time the worker's start-up, not the notes.
    with psycopg.connect(db_url, autocommit=True) as conn:
        for _ in range(300):
            if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND query ILIKE 'LISTEN gorgias_inbox%%'").fetchone()[0]:
                return proc
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the worker process did not start")


def start_server(db_url: str, fake: FakeGorgias, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = server_env(db_url, fake, threads)
    proc = subprocess.Popen([sys.executable, "app.py", "gorgias", "serve", "--port", str(port)], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(url + "/health", timeout=0.5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the standalone server did not start")


def send_webhooks(url: str, first_ticket: int, events: int, customers: int, concurrency: int,
                  rate: float | None) -> dict:
    """The webhook sender. It runs in its own process (see main), so its GIL is not shared with the
    fake Gorgias receiving the notes: a sender thread waiting for the GIL would inflate intake."""
    cpu_before = sum(os.times()[:2])
    rng = random.Random(first_ticket)
    bodies = []
    for n in range(events):   # built before the clock starts: the payload is not the server's time
        ticket = first_ticket + n
        email = (f"customer{rng.randint(1, customers)}@example.com" if rng.random() < 0.9
                 else f"guest{n}@elsewhere.test")
        bodies.append((ticket, json.dumps(ticket_payload(
            ticket, ticket * 10, sender_email=email,
            body=rng.choice(["Where is my order?", "My fabric arrived damaged.",
                             "Can I change my address?", "Do you restock linen?"]))).encode()))
    # A minimal asyncio HTTP/1.1 client on keep-alive connections: httpx cost the sender ~1 ms of
    # CPU per request (more than the server spent), which made the sender the bottleneck of a burst.
    result = asyncio.run(_send_all(url, bodies, concurrency, rate))
    return {**result, "sender_cpu": sum(os.times()[:2]) - cpu_before}


async def _send_all(url: str, bodies: list[tuple[int, bytes]], concurrency: int, rate: float | None) -> dict:
    host, port = url.removeprefix("http://").split(":")
    acked: dict[int, float] = {}
    intake: list[float] = []
    server: list[float] = []      # the server's own time (Server-Timing), without client and network
    failures: list[str] = []
    jobs: asyncio.Queue = asyncio.Queue()
    head = (f"POST /gorgias/webhook HTTP/1.1\r\nHost: {host}:{port}\r\nX-Webhook-Token: {SECRET}\r\n"
            "Content-Type: application/json\r\nContent-Length: ")

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while (job := await jobs.get()) is not None:
            ticket, body = job
            started = time.monotonic()
            writer.write(f"{head}{len(body)}\r\n\r\n".encode() + body)
            status_line = await reader.readline()
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            await reader.readexactly(int(headers.get("content-length", 0)))
            done = time.monotonic()
            status = int(status_line.split()[1]) if status_line else 0
            if status != 200:
                failures.append(f"{ticket}: {status}")
            intake.append(done - started)
            if "dur=" in headers.get("server-timing", ""):
                server.append(float(headers["server-timing"].split("dur=")[1]) / 1000)
            acked[ticket] = done
        writer.close()

    senders = [asyncio.create_task(connection()) for _ in range(concurrency)]
    await asyncio.sleep(0.05)   # connections open before the clock starts
    started = time.monotonic()
    for n, job in enumerate(bodies):
        if rate:
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        jobs.put_nowait(job)
    for _ in senders:
        jobs.put_nowait(None)
    await asyncio.gather(*senders)
    return {"started": started, "acked": acked, "intake": intake, "server": server, "failures": failures}


def run_load(url: str, fake: FakeGorgias, sender: ProcessPoolExecutor, server_pids: list[int], db_name: str,
             first_ticket: int,
             events: int, customers: int, concurrency: int, rate: float | None, expect_notes: bool = True) -> dict:
    bench_cpu, server_cpu = sum(os.times()[:2]), process_cpu_seconds(server_pids)
    db_cpu = backend_cpu(db_name)
    sent = sender.submit(send_webhooks, url, first_ticket, events, customers, concurrency, rate).result()
    started, acked = sent["started"], sent["acked"]
    deadline = time.monotonic() + (120 if expect_notes else 0)
    while time.monotonic() < deadline:
        got = {t for t in tickets_with_notes(fake) if first_ticket <= t < first_ticket + events}
        if len(got) >= events:
            break
        time.sleep(0.02)
    drained = time.monotonic()
    cpu = {"server_cpu": process_cpu_seconds(server_pids) - server_cpu,
           "fake_cpu": sum(os.times()[:2]) - bench_cpu, "sender_cpu": sent["sender_cpu"],
           "db_cpu": sum(cpu - db_cpu.get(pid, 0.0) for pid, cpu in backend_cpu(db_name).items())}
    time.sleep(1.0 if expect_notes else 0)   # anything posted twice would arrive now
    with fake.lock:
        arrivals: dict[int, list[float]] = {}
        for r in fake.requests:
            if r["method"] == "POST" and r["path"].endswith("/messages"):
                ticket = int(r["path"].split("/")[3])
                if first_ticket <= ticket < first_ticket + events:
                    arrivals.setdefault(ticket, []).append(r["at"])
    to_note = [arrivals[t][0] - acked[t] for t in acked if t in arrivals]
    return {"intake": sent["intake"], "server": sent["server"], "to_note": to_note, "lost": events - len(arrivals),
            "duplicated": sum(len(v) - 1 for v in arrivals.values()), "failures": sent["failures"],
            "wall": (max(arrivals_first(arrivals)) if arrivals else drained) - started, **cpu}


def arrivals_first(arrivals: dict[int, list[float]]) -> list[float]:
    return [times[0] for times in arrivals.values()]


def process_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of other processes so far (Linux /proc), to say what the server costs."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def backend_cpu(db_name: str) -> dict[int, float]:
    """CPU so far of each PostgreSQL backend serving the bench database (process titles name it)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if db_name in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found[int(entry.name)] = process_cpu_seconds([int(entry.name)])
            except OSError:
                continue
    return found


def tickets_with_notes(fake: FakeGorgias) -> set[int]:
    with fake.lock:
        return {t for t, msgs in fake.messages.items() if msgs}


def worker_cpu(db: Database, events: int, customers: int) -> int:
    """The worker's own CPU per event: one thread drains `events` queued webhooks in batches, posting
    to the fake Gorgias; thread CPU time excludes the fake, PostgreSQL and waiting."""
    from pydantic import SecretStr

    from analytics.context import build_context
    from gorgias.client import GorgiasClient
    from gorgias.inbox import Inbox
    from gorgias.payload import parse_event
    from gorgias.worker import InboxWorker
    from settings import load_settings

    rng = random.Random(7)
    inbox = Inbox(db)
    inbox.enqueue_many([parse_event(json.dumps(ticket_payload(
        300_000 + n, n * 10 + 1, sender_email=(f"customer{rng.randint(1, customers)}@example.com"
                                               if rng.random() < 0.9 else f"guest{n}@elsewhere.test"),
        body=rng.choice(["Where is my order?", "My fabric arrived damaged."]))).encode()) for n in range(events)])
    with FakeGorgias() as fake:
        settings = load_settings(database_url=db.url, anthropic_api_key=None, pseudonym_secret="bench",
                                 gorgias_base_url=fake.url, gorgias_username="agent@store.test",
                                 gorgias_api_key=SecretStr("test-api-key"), gorgias_rate_limit_requests=100_000,
                                 _env_file=None)
        client = GorgiasClient(settings)
        worker = InboxWorker(settings, db, build_context(settings, db, None), client, inbox)
        worker.run_once()      # warm-up: imports, prepared statements, the first connection
        done, cpu, wall = 0, time.thread_time(), time.perf_counter()
        while n := worker.run_once():
            done += n
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        client.close()
        notes = sum(1 for r in fake.requests if r["method"] == "POST" and r["path"].endswith("/messages"))
    db.close()
    print(f"\nworker CPU: {done} events after warm-up, {1000 * cpu / done:.3f} ms CPU per event in the worker "
          f"thread, {1000 * wall / done:.3f} ms wall per event; {notes} notes posted of {events}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16, help="parallel webhook senders")
    parser.add_argument("--rate", type=float, default=50.0, help="events per second for the paced run")
    parser.add_argument("--worker-threads", type=int, default=4)
    parser.add_argument("--intake-only", action="store_true",
                        help="no worker at all: intake latency alone (notes are not posted, so 'lost' is all)")
    parser.add_argument("--split", action="store_true",
                        help="web process stores only (GORGIAS_WORKER_THREADS=0); a second process drains")
    parser.add_argument("--worker-cpu", action="store_true",
                        help="no server: drain an inbox of --events in this process and print the worker's CPU per event")
    args = parser.parse_args()

    name = f"cib_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    db_url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    procs: list[subprocess.Popen] = []
    try:
        db = Database(db_url)
        with db.connection() as conn:
            conn.execute(STORE_SQL.format(customers=int(args.customers)))
        with psycopg.connect(db_url, autocommit=True) as conn:
            # Statistics now, so autovacuum does not analyse the fresh store in the middle of a run.
            conn.execute("VACUUM ANALYZE")
        if args.worker_cpu:
            return worker_cpu(db, args.events, args.customers)
        db.close()
        with FakeGorgias() as fake, ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as sender:
            proc, url = start_server(db_url, fake, 0 if (args.split or args.intake_only) else args.worker_threads)
            procs.append(proc)
            if args.split:
                procs.append(start_worker_process(db_url, fake, args.worker_threads))
            notes = not args.intake_only
            pids = [p.pid for p in procs]
            common = (args.events, args.customers, args.concurrency)
            results = [("burst", run_load(url, fake, sender, pids, name, 100_000, *common, None, notes)),
                       (f"paced {args.rate:g}/s", run_load(url, fake, sender, pids, name, 200_000, *common, args.rate, notes))]
        layout = "intake only" if args.intake_only else "web + separate worker process" if args.split else "one process"
        print(f"\nGorgias intake benchmark: {args.events} webhooks per run, {args.customers} customers, {layout}, "
              f"{args.worker_threads} worker thread(s), {args.concurrency} senders, template drafts (no model)")
        print(f"{'run':<14}{'intake p50':>12}{'p95':>9}{'p99':>9}{'server p95':>12}{'to-note p50':>13}{'p95':>9}{'p99':>9}"
              f"{'lost':>6}{'dup':>5}{'non-200':>9}{'wall s':>8}")
        for label, r in results:
            ms = lambda v, q: f"{percentile(v, q) * 1000:.1f}"  # noqa: E731
            print(f"{label:<14}{ms(r['intake'], 50):>12}{ms(r['intake'], 95):>9}{ms(r['intake'], 99):>9}"
                  f"{ms(r['server'], 95):>12}"
                  f"{ms(r['to_note'], 50):>13}{ms(r['to_note'], 95):>9}{ms(r['to_note'], 99):>9}"
                  f"{r['lost']:>6}{r['duplicated']:>5}{len(r['failures']):>9}{r['wall']:>8.2f}")
        print(f"\n{'CPU seconds':<14}{'server':>8}{'postgres':>10}{'sender':>8}{'fake Gorgias':>14}{'all / wall':>12}"
              "   (first webhook to last note; 2 cores)")
        for label, r in results:
            busy = r["server_cpu"] + r["db_cpu"] + r["sender_cpu"] + r["fake_cpu"]
            print(f"{label:<14}{r['server_cpu']:>8.2f}{r['db_cpu']:>10.2f}{r['sender_cpu']:>8.2f}{r['fake_cpu']:>14.2f}"
                  f"{busy / r['wall']:>11.2f}x")
        print("latencies in ms (intake as the sender saw it; 'server' = the endpoint's own time, from Server-Timing);")
        print("wall s = first webhook sent to last note received")
        print("goals: intake p95 ≤ 20, intake-to-note p95 ≤ 500, zero lost and duplicated")
        return 0
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    raise SystemExit(main())
