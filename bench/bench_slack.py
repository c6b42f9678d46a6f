"""Slack bot latency: ack time and time to answer (offline router, so no model time) per listener
under 20 concurrent signed requests. The server is the real `python app.py serve` (HTTP mode) in
its own process; the signed requests and the loopback fake Slack Web API run in this one.

    python bench/bench_slack.py                      # the small fixture store in a scratch database
    python bench/bench_slack.py --database-url URL   # a loaded store with a published run (e.g. the demo's)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from settings import load_settings  # noqa: E402
from sql.database import Database  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402
from tests.test_slack_support import (BOT_TOKEN, SIGNING_SECRET, action_body, command_body,  # noqa: E402
                                      event_body, free_port, signed_headers)

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Scenario:
    """One listener: builds request i and says which Web API call marks its answer."""

    def __init__(self, name, build, done_method, done_match):
        self.name, self.build, self.done_method, self.done_match = name, build, done_method, done_match


def scenarios(fake, public_id: str, round_: str = "") -> list[Scenario]:
    # Ids carry the round and scenario letter so one scenario's answers never match another's.
    def mention(i):
        channel = f"CB{round_}{i:06d}"
        event = {"type": "app_mention", "user": "U0BENCH", "text": "<@UBOT> who is most likely to churn?",
                 "ts": f"1719700000.{i:06d}", "channel": channel, "event_ts": f"1719700000.{i:06d}"}
        return event_body(event, f"Ev{uuid.uuid4().hex}"), "application/json", channel

    def dm(i):
        channel = f"DB{round_}{i:06d}"
        event = {"type": "message", "channel_type": "im", "channel": channel, "user": "U0BENCH",
                 "text": "forecast revenue next 12 weeks", "ts": f"1719700001.{i:06d}"}
        return event_body(event, f"Ev{uuid.uuid4().hex}"), "application/json", channel

    def home(i):
        user = f"UB{round_}{i:06d}"
        event = {"type": "app_home_opened", "user": user, "channel": "D0", "tab": "home", "event_ts": "1.0"}
        return event_body(event, f"Ev{uuid.uuid4().hex}"), "application/json", user

    def command(name, text, letter):
        def build(i):
            channel = f"C{letter}{round_}{i:06d}"
            return (command_body(name, text, channel=channel, response_url=fake.response_url()),
                    "application/x-www-form-urlencoded", channel)
        return build

    def show_more(i):
        channel = f"CA{round_}{i:06d}"
        value = json.dumps({"tool": "analyze_customers", "arguments": {"sort_by": "churn_risk", "limit": 5, "offset": 5}})
        body = action_body({"action_id": "show_more", "block_id": "b", "type": "button", "value": value}, channel=channel)
        return body, "application/x-www-form-urlencoded", channel

    by_channel = lambda key: lambda args, k=key: args.get("channel")  # noqa: E731
    return [
        Scenario("app_mention", mention, "chat.update", by_channel("channel")),
        Scenario("message.im", dm, "chat.update", by_channel("channel")),
        Scenario("app_home_opened", home, "views.publish", lambda args: args.get("user_id")),
        Scenario("/churn-check C-…", command("/churn-check", public_id, "K"), "chat.postMessage", by_channel("channel")),
        Scenario("/churn-check", command("/churn-check", "", "L"), "chat.postMessage", by_channel("channel")),
        Scenario("/segment-info", command("/segment-info", "", "S"), "chat.postMessage", by_channel("channel")),
        Scenario("/forecast", command("/forecast", "revenue 12w", "F"), "chat.postMessage", by_channel("channel")),
        Scenario("show more", show_more, "chat.postMessage", by_channel("channel")),
    ]


def run_scenario(fake: FakeSlack, server_url: str, scenario: Scenario, requests: int, concurrency: int) -> dict:
    acks: list[float] = []
    answers: list[float] = []
    lock = threading.Lock()
    local = threading.local()

    def one(i: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=server_url, timeout=30)
        body, content_type, key = scenario.build(i)
        headers = signed_headers(body, content_type=content_type)
        started = time.monotonic()
        response = client.post("/slack/events", content=body, headers=headers)
        acked = time.monotonic()
        if response.status_code != 200:
            raise RuntimeError(f"{scenario.name}: HTTP {response.status_code} {response.text[:200]}")
        call = fake.wait_for(scenario.done_method, lambda args: scenario.done_match(args) == key, timeout=120)[0]
        with lock:
            acks.append(acked - started)
            answers.append(call.at - started)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(requests)))
    return {"listener": scenario.name, "n": len(acks), "acks": acks, "answers": answers}


def server_histogram(url: str) -> dict[str, dict[str, float]]:
    """listener -> cumulative bucket counts of the server's own ack time (cib_slack_ack_seconds)."""
    found: dict[str, dict[str, float]] = {}
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("cib_slack_ack_seconds_bucket"):
            listener = line.split('listener="', 1)[1].split('"', 1)[0]
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            found.setdefault(listener, {})[bound] = float(line.rsplit(" ", 1)[1])
    return found


class Server:
    """`python app.py serve` in a child process, configured through its environment."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen([sys.executable, "app.py", "serve", "--host", "127.0.0.1"], cwd=ROOT, env=env)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(settings, fake: FakeSlack) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "SLACK_", "GORGIAS_", "REDIS_", "DATABASE_"))}
    env.update({"DATABASE_URL": settings.database_url, "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": fake.api_url, "PORT": str(port),
                "PSEUDONYM_SECRET": settings.pseudonym_secret.get_secret_value(), "MIN_GROUP_SIZE": "1",
                "LOG_LEVEL": "WARNING", "DATA_DIR": tempfile.mkdtemp(prefix="bench-slack-")})
    return Server(env, port)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None, help="a store with a published discovery run")
    parser.add_argument("--requests", type=int, default=60, help="requests per listener")
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()

    scratch = None
    if args.database_url:
        url = args.database_url
    else:
        from tests.conftest import create_database

        url = scratch = create_database()
    db = Database(url)
    try:
        # One bench user asks hundreds of questions: the limits would answer most with a note, and
        # this measures answering (tests/test_limits.py covers the limits).
        settings = load_settings(database_url=url, redis_url=None, pseudonym_secret="bench-secret",
                                 min_group_size=1, anthropic_api_key=None, slack_user_questions=1_000_000,
                                 slack_channel_questions=1_000_000, _env_file=None)
        if scratch:
            from tests.analytics_fixture import load_fixture

            load_fixture(db, settings)
        with db.cursor() as cur:
            public_id = cur.execute("SELECT public_id FROM customers WHERE public_id IS NOT NULL LIMIT 1").fetchone()["public_id"]
        fake = FakeSlack().start()
        server = start_server(settings, fake)
        try:
            # Warm-up: Bolt's first request calls auth.test; the first tool calls fill the cache.
            for scenario in scenarios(fake, public_id, "w"):
                run_scenario(fake, server.url, scenario, 2, 2)
            fake.clear()
            before = server_histogram(server.url)
            rows = [run_scenario(fake, server.url, s, args.requests, args.concurrency)
                    for s in scenarios(fake, public_id, "m")]
            after = server_histogram(server.url)
        finally:
            server.stop()
            fake.stop()
    finally:
        db.close()
        if scratch:
            from tests.conftest import drop_database

            drop_database(scratch)

    store = "fixture store (10 customers)" if scratch else url.rsplit("/", 1)[-1]
    print(f"Slack bot, HTTP mode, offline router (no model), {args.concurrency} concurrent requests, "
          f"{args.requests} per listener, store: {store}")
    print(f"{'listener':<20}{'n':>5}{'ack p50':>10}{'ack p95':>10}{'ack p99':>10}"
          f"{'answer p50':>12}{'answer p95':>12}{'answer p99':>12}")
    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    worst_ack = 0.0
    for row in rows:
        a, t = row["acks"], row["answers"]
        worst_ack = max(worst_ack, percentile(a, 0.99))
        print(f"{row['listener']:<20}{row['n']:>5}{ms(statistics.median(a)):>10}{ms(percentile(a, 0.95)):>10}"
              f"{ms(percentile(a, 0.99)):>10}{ms(statistics.median(t)):>12}{ms(percentile(t, 0.95)):>12}"
              f"{ms(percentile(t, 0.99)):>12}")
    print(f"worst ack p99 seen by the client: {worst_ack * 1000:.0f} ms (goal ≤ 200 ms) — "
          f"{'met' if worst_ack <= 0.2 else 'NOT met'}")
    print("server-side ack time (cib_slack_ack_seconds from /metrics), share of requests within:")
    for listener, buckets in sorted(after.items()):
        earlier = before.get(listener, {})
        total = buckets.get("+Inf", 0) - earlier.get("+Inf", 0)
        if total:
            shares = "  ".join(f"≤{float(b) * 1000:g} ms {(buckets[b] - earlier.get(b, 0)) / total:6.1%}"
                               for b in ("0.01", "0.05", "0.1", "0.2", "0.5") if b in buckets)
            print(f"  {listener:<22}{total:>5.0f}  {shares}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
