"""Load and faults, one command: `python bench/bench_faults.py [--quick]`.

Two `python app.py serve` processes (loopback ports, each with its own pool, cache, Bolt app and
Gorgias workers, as an operator runs them) share one throw-away PostgreSQL cluster (initdb
into a temp dir, its own port) and one throw-away redis-server (its own port); Slack, Gorgias and
Anthropic are the loopback fakes of tests/. Phases, each split over both instances:

  load + discovery   Gorgias webhooks and signed Slack questions at once while discovery runs
  PostgreSQL restart the cluster stopped (fast: connections cut) mid-load, started again
  PostgreSQL crash   the same, stopped immediately (no checkpoint: WAL replayed on start)
  Redis stopped      redis-server stopped mid-load, started again
  Anthropic 500s     every Messages API call answers 500 (the offline router must answer)
  Anthropic timeouts every call hangs past the client's timeout

The senders behave as the services do: a webhook answered other than 200 is delivered again (as
Gorgias re-delivers), a Slack request not acknowledged within 3 s is sent again with
X-Slack-Retry-Num (as Slack does). One table: requests, latency p50/p95/p99 (the HTTP answer as the
sender saw it), errors (non-200 answers, timeouts, apologies posted), lost, duplicated, recovery
time (fault lifted → both instances ready and a fresh webhook noted and a fresh question answered
through each, by Claude again after an Anthropic fault). Asserts zero lost, zero duplicated, every
fault recovered without restarting the app, every Slack ack within 3 s; exits 1 otherwise.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx
from pydantic import SecretStr

from bench.bench_gorgias import percentile
from tests.fake_anthropic import FakeAnthropic, end_turn, error, hang, tool_use
from tests.fake_gorgias import FakeGorgias, ticket_payload
from tests.fake_slack import FakeSlack
from tests.test_slack_support import BOT_TOKEN, SIGNING_SECRET, event_body, free_port, signed_headers

# Every setting the suite changes, in one place. The load comes from one address and a few users,
# so every rate limit is set far above it: the suite measures faults, not limits. Settings the
# model does not know (yet) are ignored, so limits added later are named here already.
SETTINGS_OVERRIDES: dict[str, object] = {
    "gorgias_rate_limit_requests": 100_000,   # the fake Gorgias has no REST limit
    "gorgias_webhook_requests": 1_000_000,    # webhook deliveries per source address
    "slack_user_questions": 100_000,          # Slack questions per user / per channel per window
    "slack_channel_questions": 100_000,
    "gorgias_worker_threads": 2,
    "gorgias_retry_base_seconds": 0.5,     # a note that failed on the outage is retried soon
    "db_pool_max_size": 12,
    "anthropic_timeout_seconds": 1.5,      # the hang phase: the client gives up, the offline router answers
    "anthropic_max_retries": 1,
    "min_group_size": 1,
    "cache_ttl_seconds": 900,
    "log_level": "WARNING",
}

WEBHOOK_SECRET = "faults-webhook-secret"
GORGIAS_USER, GORGIAS_KEY = "agent@store.test", "test-api-key"
QUESTION = "<@UBOT> who is most likely to churn?"
ACK_LIMIT = 3.0              # Slack retries a request it did not see acknowledged within 3 s
REDELIVER_AFTER = 0.5        # the senders' pause before delivering a refused webhook again
SETTLE_SECONDS = 1.5         # after everything arrived: anything posted twice would arrive now


@dataclass
class Plan:
    customers: int = 1500
    webhooks: int = 500          # the load phase
    questions: int = 200
    fault_webhooks: int = 100    # each fault phase
    fault_questions: int = 30
    fault_seconds: float = 8.0   # how long a fault phase's load is spread over
    outage_seconds: float = 3.0  # how long PostgreSQL / Redis stay down
    phases: tuple[str, ...] = ("load", "postgres", "postgres_crash", "redis", "anthropic_500", "anthropic_timeout")
    settle_timeout: float = 200.0  # a question left pending is retried by the sweep after its lease


FULL = Plan()
QUICK = Plan(customers=600, webhooks=100, questions=40, fault_webhooks=30, fault_questions=10, fault_seconds=5.0)
SMALLEST = Plan(customers=300, webhooks=20, questions=10, fault_webhooks=10, fault_questions=4, fault_seconds=3.0,
                outage_seconds=2.0, phases=("load", "redis"), settle_timeout=60.0)

PHASE_TITLES = {"load": "load + discovery", "postgres": "PostgreSQL restart",
                "postgres_crash": "PostgreSQL crash", "redis": "Redis stopped",
                "anthropic_500": "Anthropic 500s", "anthropic_timeout": "Anthropic timeouts"}


# --- throw-away servers ---------------------------------------------------------------------------

def _as_postgres_user(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class ThrowawayPostgres:
    """A PostgreSQL cluster of its own in a temp dir on a free loopback port; never the shared server."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="cib-faults-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(_as_postgres_user(["initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                                          "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)
        self.start()
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        # fsync off only spares the disk: a killed server loses nothing the kernel already has. Commits
        # stay synchronous, or the crash phase would lose acknowledged commits and count the
        # redone work as duplicates.
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
                   "-c full_page_writes=off -c max_connections=200")
        subprocess.run(_as_postgres_user(["pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options,
                                          "-w", "start"]), check=True, capture_output=True)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(_as_postgres_user(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"]),
                       check=True, capture_output=True)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def close(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class ThrowawayRedis:
    """A redis-server of its own (no persistence) on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    close = stop


class ClaudeScript:
    """The fake Anthropic's answers: a tool call, then a short text once the tool result is back;
    or, during a fault, a 500 or a hang past the client's timeout."""

    def __init__(self, hang_seconds: float) -> None:
        self.mode = "ok"
        self.hang_seconds = hang_seconds

    def __call__(self, body: dict) -> dict:
        if self.mode == "500":
            return error(500, "fault suite: internal error")
        if self.mode == "hang":
            return hang(self.hang_seconds)
        last = (body.get("messages") or [{}])[-1].get("content")
        if isinstance(last, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in last):
            return end_turn("These customers are the most likely to churn.")
        return tool_use(("analyze_customers", {"sort_by": "churn_risk", "limit": 5}))


# --- the store and the app instances ------------------------------------------------------------------

def load_store(db, settings, customers: int) -> None:
    """A generated store with its ids, product rollup and a published run, as `demo` prepares one."""
    from analytics.product_rollup import refresh_product_rollup
    from analytics.pseudonyms import assign_public_ids
    from discovery.importer import import_frame
    from discovery.pipeline import run_discovery
    from discovery.synthetic import StoreSpec, generate_store

    frame, _ = generate_store(StoreSpec(customers=customers, seed=11))
    import_frame(db, frame, "synthetic")
    assign_public_ids(db, settings)
    refresh_product_rollup(db)
    summary = run_discovery(db, settings)
    if summary.status != "published":
        raise RuntimeError(f"discovery did not publish the first run: {summary.error}")


def settings_env(settings) -> dict[str, str]:
    """The environment that gives `python app.py serve` exactly these settings."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, list):
            value = ",".join(value)
        env[name.upper()] = str(value)
    return env


class Instance:
    """One `python app.py serve` process on a loopback port, as an operator runs it: its own pool,
    cache, Bolt app, Gorgias workers and interpreter (the senders and the fakes stay in this process,
    so the instances' acks do not wait on them for the GIL). Its log: `log_dir/instance-NAME.log`."""

    def __init__(self, name: str, settings, log_dir: Path) -> None:
        from settings import Settings

        self.name, port = name, free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}
        # The suite runs discovery itself (mid-load), not on the cron schedule: a date that never comes.
        env.update(settings_env(settings), PORT=str(port), DISCOVERY_CRON="0 0 31 2 *", LOG_FORMAT="json",
                   PYTHONPATH=str(ROOT))
        self.log_path = log_dir / f"instance-{name}.log"
        self._log = open(self.log_path, "wb")
        # cwd: the data folder, so no `.env` of the checkout's is read.
        self.process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "serve", "--host", "127.0.0.1"],
                                        cwd=settings.data_dir, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"instance {name} did not start; its log:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@dataclass
class Rig:
    plan: Plan
    postgres: ThrowawayPostgres | None
    redis: ThrowawayRedis
    slack: FakeSlack
    gorgias: FakeGorgias
    claude: FakeAnthropic
    script: ClaudeScript
    settings: object
    services: object = None          # this process's own (discovery runs here, mid-load)
    instances: list[Instance] = field(default_factory=list)
    next_ticket: int = 100_000
    next_question: int = 0

    def tickets(self, count: int) -> list[int]:
        first, self.next_ticket = self.next_ticket, self.next_ticket + count
        return list(range(first, first + count))

    def channels(self, count: int) -> list[str]:
        first, self.next_question = self.next_question, self.next_question + count
        # One channel per question (and many users): each answer is found by its channel, and
        # per-channel / per-user limits see ordinary traffic.
        return [f"CF{n:07d}" for n in range(first, first + count)]


def build_rig(plan: Plan, database_url: str | None = None, stack=None, log_dir: Path | None = None) -> Rig:
    """Everything the phases need; `stack` (an ExitStack) closes it. Without `database_url` the
    suite's own PostgreSQL cluster is started (required for the PostgreSQL phase)."""
    from settings import load_settings
    from sql.database import Database

    postgres = None
    if database_url is None:
        postgres = stack.enter_context(contextlib.closing(ThrowawayPostgres()))
        database_url = postgres.create_database("cib_faults")
    redis_server = stack.enter_context(contextlib.closing(ThrowawayRedis()))
    slack = stack.enter_context(FakeSlack())
    gorgias = stack.enter_context(FakeGorgias(GORGIAS_USER, GORGIAS_KEY))
    script = ClaudeScript(hang_seconds=float(SETTINGS_OVERRIDES["anthropic_timeout_seconds"]) * 3)
    claude = stack.enter_context(FakeAnthropic(default=script))
    data_dir = tempfile.mkdtemp(prefix="cib-faults-data-")
    stack.callback(shutil.rmtree, data_dir, True)
    log_dir = log_dir or Path(data_dir)
    settings = load_settings(
        database_url=database_url, redis_url=redis_server.url, redis_key_prefix=f"cibfaults:{uuid.uuid4().hex[:6]}:",
        data_dir=Path(data_dir), pseudonym_secret="faults-pseudonyms",
        anthropic_api_key=SecretStr("faults-anthropic-key"), anthropic_base_url=claude.url,
        slack_bot_token=SecretStr(BOT_TOKEN), slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_api_url=slack.api_url, gorgias_base_url=gorgias.url, gorgias_username=GORGIAS_USER,
        gorgias_api_key=SecretStr(GORGIAS_KEY), gorgias_webhook_secret=SecretStr(WEBHOOK_SECRET),
        _env_file=None, **SETTINGS_OVERRIDES)
    db = Database(database_url)
    try:
        load_store(db, settings, plan.customers)
    finally:
        db.close()
    rig = Rig(plan, postgres, redis_server, slack, gorgias, claude, script, settings)
    from wiring import build_services

    rig.services = build_services(settings)
    stack.callback(rig.services.close)
    for name in ("A", "B"):
        instance = Instance(name, settings, log_dir)
        stack.callback(instance.close)
        rig.instances.append(instance)
    return rig


# --- the senders ----------------------------------------------------------------------------------

@dataclass
class Sent:
    latencies: list[float] = field(default_factory=list)   # every HTTP attempt, seconds
    errors: int = 0                                          # non-200 answers and timeouts
    acks: list[float] = field(default_factory=list)         # Slack: every attempt's time to 200 (or timeout)
    started: dict[object, float] = field(default_factory=dict)


async def deliver_webhook(client: httpx.AsyncClient, urls: list[str], first: int, ticket: int, sent: Sent,
                          give_up_at: float, echo: bool = False) -> None:
    """One webhook, delivered again (to the other instance, as a load balancer may) until answered
    200, as Gorgias re-delivers a refused one. `echo`: once accepted, delivered once more to the other
    instance (a duplicate delivery, which must not give a second note)."""
    body = json.dumps(ticket_payload(ticket, ticket * 10, sender_email=f"customer{ticket % 97}@example.com",
                                     body="Where is my order?")).encode()
    headers = {"X-Webhook-Token": WEBHOOK_SECRET, "Content-Type": "application/json"}
    sent.started.setdefault(ticket, time.monotonic())
    attempt = 0
    while True:
        url = urls[(first + attempt) % len(urls)]
        attempt += 1
        began = time.monotonic()
        try:
            status = (await client.post(url + "/gorgias/webhook", content=body, headers=headers)).status_code
        except httpx.HTTPError:
            status = 0
        sent.latencies.append(time.monotonic() - began)
        if status == 200 and echo:
            echo = False
            continue
        if status == 200:
            return
        sent.errors += 1
        if time.monotonic() > give_up_at:
            return
        await asyncio.sleep(REDELIVER_AFTER)


async def ask_question(client: httpx.AsyncClient, urls: list[str], first: int, channel: str, n: int, sent: Sent,
                       echo: bool = False) -> None:
    """One signed app_mention; re-sent (to the other instance) with X-Slack-Retry-Num when not
    acknowledged within 3 s, as Slack does. `echo`: once acknowledged, sent once more as Slack's
    retry to the other instance (which must not answer it a second time)."""
    ts = f"{int(time.time())}.{n % 1_000_000:06d}"
    event = {"type": "app_mention", "user": f"UF{n % 50:04d}", "text": QUESTION, "ts": ts, "channel": channel,
             "event_ts": ts}
    body = event_body(event, f"Ev{uuid.uuid4().hex}")
    sent.started.setdefault(channel, time.monotonic())
    for attempt in range(4):
        headers = signed_headers(body)
        if attempt:
            headers.update({"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"})
        began = time.monotonic()
        try:
            status = (await client.post(urls[(first + attempt) % len(urls)] + "/slack/events", content=body,
                                        headers=headers, timeout=ACK_LIMIT)).status_code
        except httpx.HTTPError:
            status = 0
        took = time.monotonic() - began
        sent.latencies.append(took)
        sent.acks.append(took if status == 200 else max(took, ACK_LIMIT + 0.001))
        if status == 200 and echo:
            echo = False
            continue
        if status == 200:
            return
        sent.errors += 1


async def paced(delay: float, work) -> None:
    await asyncio.sleep(delay)
    await work


# --- counting what arrived ------------------------------------------------------------------------

def notes_by_ticket(fake: FakeGorgias, tickets: set[int]) -> dict[int, int]:
    counts = dict.fromkeys(tickets, 0)
    for note in fake.notes():
        if note["ticket_id"] in counts:
            counts[note["ticket_id"]] += 1
    return counts


def answers_by_channel(fake: FakeSlack, channels: set[str]) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Per question's channel: answers (the placeholder replaced by an answer), apologies, and
    answers made by Claude (those without the offline router's note)."""
    from bot.answering import FAILED, PARTLY_FAILED, THINKING, WILL_RETRY

    apologies_text = {FAILED, PARTLY_FAILED, WILL_RETRY}
    answers, apologies, by_claude = dict.fromkeys(channels, 0), dict.fromkeys(channels, 0), dict.fromkeys(channels, 0)
    for call in fake.calls_to("chat.update") + fake.calls_to("chat.postMessage"):
        channel = call.args.get("channel")
        if channel not in answers:
            continue
        text = str(call.args.get("text") or "")
        if text in apologies_text or text.startswith("Sorry, I couldn't answer"):
            apologies[channel] += 1
        elif call.method == "chat.update" and text != THINKING:
            answers[channel] += 1
            by_claude[channel] += "offline router" not in text
    return answers, apologies, by_claude


def first_answer_at(fake: FakeSlack, channel: str) -> float | None:
    from bot.answering import FAILED, PARTLY_FAILED, THINKING, WILL_RETRY

    for call in fake.calls_to("chat.update", lambda a: a.get("channel") == channel):
        if call.args.get("text") not in (THINKING, FAILED, PARTLY_FAILED, WILL_RETRY):
            return call.at
    return None


def first_note_at(fake: FakeGorgias, ticket: int) -> float | None:
    with fake.lock:
        times = [r["at"] for r in fake.requests if r["method"] == "POST" and r["path"] == f"/api/tickets/{ticket}/messages"]
    return min(times) if times else None


# --- one phase ------------------------------------------------------------------------------------

@dataclass
class PhaseResult:
    name: str
    webhooks: Sent
    questions: Sent
    tickets: dict[int, int]
    answers: dict[str, int]
    apologies: int
    claude_answers: int
    recovery: float | None = None
    discovery: str | None = None
    note_seconds: list[float] = field(default_factory=list)
    answer_seconds: list[float] = field(default_factory=list)


class Fault:
    """inject() at a third of the phase, lift() `outage` seconds later; `claude` asks the recovery
    probe to be answered by Claude."""

    def __init__(self, inject, lift, claude: bool = False) -> None:
        self.inject, self.lift, self.claude = inject, lift, claude


def faults(rig: Rig) -> dict[str, Fault]:
    def claude_mode(mode: str):
        def set_mode() -> None:
            rig.script.mode = mode
        return set_mode

    found = {"redis": Fault(rig.redis.stop, rig.redis.start),
             "anthropic_500": Fault(claude_mode("500"), claude_mode("ok"), claude=True),
             "anthropic_timeout": Fault(claude_mode("hang"), claude_mode("ok"), claude=True)}
    if rig.postgres is not None:
        found["postgres"] = Fault(lambda: rig.postgres.stop("fast"), rig.postgres.start)
        # immediate: the server dies without a checkpoint and replays its WAL on the next start.
        found["postgres_crash"] = Fault(lambda: rig.postgres.stop("immediate"), rig.postgres.start)
    return found


def run_phase(rig: Rig, name: str) -> PhaseResult:
    plan = rig.plan
    fault = faults(rig).get(name) if name != "load" else None
    if name != "load" and fault is None:
        raise SystemExit(f"phase {name} needs the suite's own PostgreSQL cluster")
    n_hooks, n_questions = (plan.webhooks, plan.questions) if fault is None else (plan.fault_webhooks, plan.fault_questions)
    tickets, channels = rig.tickets(n_hooks), rig.channels(n_questions)
    hooks, asks = Sent(), Sent()
    discovery: dict[str, str] = {}
    lifted: dict[str, float] = {}

    def discover() -> None:
        from analytics.context import after_discovery_run
        from discovery.pipeline import run_discovery

        services = rig.services
        summary = run_discovery(services.db, rig.settings, on_published=lambda *a, **k: after_discovery_run(services.ctx))
        discovery["status"] = f"{summary.status} in {summary.seconds:.1f} s"

    async def load() -> None:
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            urls = [i.url for i in rig.instances]
            window = plan.fault_seconds if fault is not None else 0.0
            give_up = time.monotonic() + window + plan.settle_timeout
            gate = asyncio.Semaphore(24)   # in flight at once, over both instances

            async def bounded(work):
                async with gate:
                    await work

            # Every tenth webhook and question is delivered twice, once to each instance.
            work = [paced(window * k / max(1, n_hooks),
                          bounded(deliver_webhook(client, urls, k, t, hooks, give_up, echo=k % 10 == 0)))
                    for k, t in enumerate(tickets)]
            work += [paced(window * k / max(1, n_questions),
                           bounded(ask_question(client, urls, k, ch, k, asks, echo=k % 10 == 0)))
                     for k, ch in enumerate(channels)]
            if fault is not None:
                if name.startswith("anthropic"):
                    fault.inject()
                work.append(inject_and_lift())
            await asyncio.gather(*work)

    async def inject_and_lift() -> None:
        if name.startswith("anthropic"):
            # Injected before the first question (in load) and held until every question of the
            # phase has its answer: each one must have met the fault and been answered offline.
            await asyncio.sleep(plan.fault_seconds)
            await asyncio.to_thread(wait_until_answered, rig, set(channels), plan.settle_timeout)
        else:
            await asyncio.sleep(plan.fault_seconds / 3)
            await asyncio.to_thread(fault.inject)
            await asyncio.sleep(plan.outage_seconds)
        await asyncio.to_thread(fault.lift)
        lifted["at"] = time.monotonic()

    discoverer = threading.Thread(target=discover, name="faults-discovery") if fault is None else None
    if discoverer:
        discoverer.start()
    asyncio.run(load())
    recovery = measure_recovery(rig, lifted["at"], fault) if fault is not None else None
    if discoverer:
        discoverer.join()
    result = settle(rig, name, set(tickets), set(channels), hooks, asks)
    result.recovery, result.discovery = recovery, discovery.get("status")
    return result


def wait_until_answered(rig: Rig, channels: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(answers_by_channel(rig.slack, channels)[0].values()):
        time.sleep(0.1)


async def send_probes(urls: list[str], tickets: list[int], channels: list[str], deadline: float) -> None:
    """One webhook and one question first sent to each instance."""
    probe = Sent()
    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(deliver_webhook(client, urls, n, t, probe, deadline) for n, t in enumerate(tickets)),
                             *(ask_question(client, urls, n, c, 900_000 + n, probe) for n, c in enumerate(channels)))


def measure_recovery(rig: Rig, lifted_at: float, fault: Fault) -> float | None:
    """Seconds from the fault lifted until both instances are ready and a fresh webhook is noted and
    a fresh question answered through each (by Claude after an Anthropic fault); None if not within
    the plan's settle timeout."""
    deadline = lifted_at + rig.plan.settle_timeout
    with httpx.Client(timeout=2) as client:
        for instance in rig.instances:
            while True:
                try:
                    if client.get(instance.url + "/health/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.1)
    while time.monotonic() < deadline:
        tickets, channels = rig.tickets(2), rig.channels(2)
        asyncio.run(send_probes([i.url for i in rig.instances], tickets, channels, deadline))
        while time.monotonic() < deadline:
            noted = all(notes_by_ticket(rig.gorgias, set(tickets)).values())
            answers, _, by_claude = answers_by_channel(rig.slack, set(channels))
            if noted and all(answers.values()):
                if not fault.claude or all(by_claude.values()):
                    return time.monotonic() - lifted_at
                break   # answered, but by the offline router: Claude is not back yet, probe again
            time.sleep(0.05)
    return None


def settle(rig: Rig, name: str, tickets: set[int], channels: set[str], hooks: Sent, asks: Sent) -> PhaseResult:
    """Wait until every webhook has a note and every question an answer (or the timeout), let late
    duplicates arrive, then count."""
    deadline = time.monotonic() + rig.plan.settle_timeout
    while time.monotonic() < deadline:
        answers, _, _ = answers_by_channel(rig.slack, channels)
        if all(notes_by_ticket(rig.gorgias, tickets).values()) and all(answers.values()):
            break
        time.sleep(0.1)
    time.sleep(SETTLE_SECONDS)
    notes = notes_by_ticket(rig.gorgias, tickets)
    answers, apologies, by_claude = answers_by_channel(rig.slack, channels)
    result = PhaseResult(name, hooks, asks, notes, answers, sum(apologies.values()), sum(by_claude.values()))
    result.note_seconds = [at - hooks.started[t] for t in tickets if (at := first_note_at(rig.gorgias, t))]
    result.answer_seconds = [at - asks.started[c] for c in channels if (at := first_answer_at(rig.slack, c))]
    return result


# --- the table ------------------------------------------------------------------------------------

def rows(results: list[PhaseResult]) -> list[dict]:
    table = []
    for r in results:
        for kind, sent, done, seconds, extra_errors in (
                ("webhooks", r.webhooks, r.tickets, r.note_seconds, 0),
                ("questions", r.questions, r.answers, r.answer_seconds, r.apologies)):
            table.append({
                "phase": PHASE_TITLES[r.name], "kind": kind, "requests": len(done),
                "p50": percentile(sent.latencies, 50), "p95": percentile(sent.latencies, 95),
                "p99": percentile(sent.latencies, 99), "errors": sent.errors + extra_errors,
                "lost": sum(1 for n in done.values() if n == 0),
                "duplicated": sum(n - 1 for n in done.values() if n > 1),
                "done_p95": percentile(seconds, 95), "ack_max": max(sent.acks) if sent.acks else None,
                "recovery": r.recovery, "fault": r.name != "load"})
    return table


def print_table(table: list[dict], results: list[PhaseResult], plan: Plan) -> None:
    print(f"\nLoad and faults: 2 app instances sharing one PostgreSQL and one Redis, {plan.customers} customers; "
          "latency = HTTP answer as the sender saw it (every attempt)")
    print(f"{'phase':<20}{'kind':<11}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'lost':>6}{'dup':>5}{'done p95 s':>12}{'ack max s':>11}{'recovery s':>12}")
    for row in table:
        ms = lambda v: f"{v * 1000:.0f}"
        ack = f"{row['ack_max']:.2f}" if row["ack_max"] is not None else "–"
        recovery = "–" if not row["fault"] else ("never" if row["recovery"] is None else f"{row['recovery']:.1f}")
        print(f"{row['phase']:<20}{row['kind']:<11}{row['requests']:>9}{ms(row['p50']):>9}{ms(row['p95']):>9}"
              f"{ms(row['p99']):>9}{row['errors']:>8}{row['lost']:>6}{row['duplicated']:>5}{row['done_p95']:>12.2f}"
              f"{ack:>11}{recovery:>12}")
    for r in results:
        if r.discovery:
            print(f"discovery during '{PHASE_TITLES[r.name]}': {r.discovery}")
        if r.name.startswith("anthropic"):
            print(f"'{PHASE_TITLES[r.name]}': {len(r.answers) - r.claude_answers} of {len(r.answers)} questions "
                  "answered by the offline router")
    print("done p95 = webhook first sent → note posted / question sent → answer posted; errors = non-200 answers, "
          "ack timeouts and apologies posted;\nrecovery = fault lifted → both instances ready and a fresh webhook "
          "noted and question answered through each (by Claude after an Anthropic fault)")


def failures(table: list[dict], results: list[PhaseResult]) -> list[str]:
    found = []
    for row in table:
        where = f"{row['phase']} / {row['kind']}"
        if row["lost"]:
            found.append(f"{where}: {row['lost']} lost")
        if row["duplicated"]:
            found.append(f"{where}: {row['duplicated']} duplicated")
        if row["fault"] and row["recovery"] is None:
            found.append(f"{where}: the fault never recovered")
        if row["ack_max"] is not None and row["ack_max"] > ACK_LIMIT:
            found.append(f"{where}: a Slack ack took {row['ack_max']:.2f} s (limit {ACK_LIMIT:g} s)")
    for r in results:
        if r.name.startswith("anthropic") and r.claude_answers:
            found.append(f"{PHASE_TITLES[r.name]}: {r.claude_answers} answers came from Claude during the fault")
        if r.discovery is not None and not r.discovery.startswith("published"):
            found.append(f"discovery during the load did not publish: {r.discovery}")
    return found


def run_suite(plan: Plan, database_url: str | None = None,
              log_dir: Path | None = None) -> tuple[list[dict], list[PhaseResult]]:
    """Build the rig, run the plan's phases in order, tear everything down; the table rows and results.
    `log_dir`: where the instances' logs are kept (default: the rig's data folder, removed at the end)."""
    with contextlib.ExitStack() as stack:
        rig = build_rig(plan, database_url, stack, log_dir)
        results = [run_phase(rig, name) for name in plan.phases]
    return rows(results), results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (100 webhooks, 40 questions per load)")
    parser.add_argument("--phases", default=None,
                        help=f"comma-separated, in order (default all): {','.join(FULL.phases)}")
    parser.add_argument("--outage", type=float, default=None,
                        help="seconds PostgreSQL / Redis stay down (default 3)")
    args = parser.parse_args()
    import logging

    # The faults log warnings and errors by design: they go to files, the table to the terminal.
    log_dir = Path(tempfile.gettempdir()) / "cib-bench-faults"
    log_dir.mkdir(exist_ok=True)
    log_file = log_dir / "bench.log"
    logging.basicConfig(level=logging.WARNING, filename=log_file, filemode="w", force=True)
    plan = QUICK if args.quick else FULL
    if args.phases:
        unknown = set(args.phases.split(",")) - set(PHASE_TITLES)
        if unknown:
            parser.error(f"unknown phase(s) {', '.join(sorted(unknown))}; choose from {', '.join(PHASE_TITLES)}")
        plan = replace(plan, phases=tuple(args.phases.split(",")))
    if args.outage is not None:
        plan = replace(plan, outage_seconds=args.outage)
    started = time.monotonic()
    table, results = run_suite(plan, log_dir=log_dir)
    print_table(table, results, plan)
    problems = failures(table, results)
    print(f"\nwall time {time.monotonic() - started:.0f} s; logs (this process's, each instance's): {log_dir}")
    for problem in problems:
        print("FAILED:", problem)
    print("all assertions hold" if not problems else f"{len(problems)} assertion(s) failed")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
