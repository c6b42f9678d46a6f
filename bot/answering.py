"""Answering a question in a Slack thread: allow-list, a progress placeholder (and the assistant
"thinking" status), the router, the rendered answer replacing the placeholder — or an error
message replacing it, so progress is never left behind."""
from __future__ import annotations

import logging
import re
import threading
import time

from bot.access import is_allowed, not_enabled_message
from bot.delivery import PartlyDelivered, post_pages, replace_with_error
from bot.limits import limited_message
from observability import metrics
from observability.logs import correlated
from bot.questions import (
    GAVE_UP, MAX_ATTEMPTS, claim_due_questions, finish_question, is_connection_failure, record_question,
)
from bot.views.answer import answer_pages
from bot.views.charts import forecast_png
from bot.views.help import help_blocks
from sql.database import retry_if_dropped

log = logging.getLogger(__name__)

THINKING = "⏳ Looking into it…"
FAILED = ("Sorry, I couldn't answer that just now (the error is logged). "
          "Try again in a minute, or ask `help` for what I can do.")
WILL_RETRY = ("Sorry, I lost my connection to the store's data while answering that. "
              "I'll answer here in a few minutes.")
PARTLY_FAILED = "Sorry, the rest of that answer couldn't be posted (the error is logged). Try a narrower question."
_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")


def thread_key(channel: str, thread_ts: str) -> str:
    """The router's memory key for one Slack thread (shared contract with analytics.router)."""
    return f"slack:{channel}:{thread_ts}"


def clean_question(text: str) -> str:
    """The question without the bot's @-mention and Slack's formatting around it. Slack escapes
    the three characters it uses for markup (&, <, >); a person typing "value > 1000" means ">"."""
    text = _MENTION.sub("", text or "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def answer_in_thread(deps, client, *, channel: str, thread_ts: str, user: str | None, question: str,
                     listener: str, assistant_thread: bool = False, question_id: int | None = None,
                     attempt: int = 1) -> None:
    """Answer (or apologise) in the thread. The question is recorded first (bot.questions) and
    marked when done; one that failed on the database connection stays pending, says so, and is
    answered again by the retry sweep. `question_id`/`attempt`: the sweep's retry of a record."""
    started = time.perf_counter()
    if not is_allowed(deps.settings, channel, user):
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=not_enabled_message(channel))
        return
    question = clean_question(question)
    if not question or question.lower() in ("help", "?"):
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, blocks=help_blocks(), text="What I can do")
        return
    if question_id is None:   # a retry of a recorded question was counted the first time
        wait = deps.limits.wait_before(channel, user)
        if wait > 0:
            metrics.SLACK_HANDLED.labels(listener, "rate_limited").inc()
            _tell_privately(client, channel, thread_ts, user, limited_message(wait))
            return
    # Progress: the assistant pane's "is thinking…" status (cleared by Slack when the answer is
    # posted), or elsewhere a placeholder message that the answer (or the error) replaces.
    if question_id is None:
        question_id = record_question(deps.db, channel=channel, thread_ts=thread_ts, user=user, question=question,
                                      listener=listener, assistant_thread=assistant_thread)
    status_shown = assistant_thread and _show_status(client, channel, thread_ts)
    placeholder_ts = None
    try:
        if not status_shown:
            placeholder_ts = client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=THINKING)["ts"]
        with deps.slot():
            # The full text: the router itself refuses oversize questions politely.
            answer = retry_if_dropped(lambda: deps.router.answer(question, thread_key(channel, thread_ts), user),
                                      "answering a Slack question")
            pages = answer_pages(answer)
        results = [c.result for c in (answer.tool_calls or []) if getattr(c, "result", None) is not None]
        post_pages(client, channel, pages, thread_ts=thread_ts, replace_ts=placeholder_ts,
                   chart_png=lambda: next((png for r in results if (png := forecast_png(r))), None))
        metrics.SLACK_ANSWERS.labels(str(getattr(answer, "source", "unknown"))).inc()
        metrics.SLACK_HANDLED.labels(listener, "answered").inc()
        finish_question(deps.db, question_id, "answered")
    except PartlyDelivered:
        # The first page already replaced the placeholder: say the rest failed in a new message.
        metrics.SLACK_HANDLED.labels(listener, "partly_delivered").inc()
        log.exception("answering in %s (thread %s) was cut short", channel, thread_ts)
        replace_with_error(client, channel, None, thread_ts, PARTLY_FAILED)
        finish_question(deps.db, question_id, "apologised", "partly delivered")
    except Exception as exc:
        log.exception("answering in %s (thread %s) failed", channel, thread_ts)
        if question_id is not None and is_connection_failure(exc) and attempt < MAX_ATTEMPTS:
            metrics.SLACK_HANDLED.labels(listener, "retry_later").inc()
            # Left pending: the retry sweep answers it once its lease runs out.
            replace_with_error(client, channel, placeholder_ts, thread_ts, WILL_RETRY)
        else:
            metrics.SLACK_HANDLED.labels(listener, "error").inc()
            replace_with_error(client, channel, placeholder_ts, thread_ts, FAILED)
            finish_question(deps.db, question_id, "apologised", f"{type(exc).__name__}: {exc}")
    finally:
        metrics.SLACK_LISTENER_SECONDS.labels(listener).observe(time.perf_counter() - started)


def _tell_privately(client, channel: str, thread_ts: str, user: str | None, text: str) -> None:
    """An ephemeral note to `user` where Slack allows one, else a reply in the thread."""
    if user:
        try:
            client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, text=text)
            return
        except Exception:  # noqa: BLE001 - e.g. the assistant pane: say it in the thread instead
            log.debug("ephemeral note not possible in %s", channel)
    client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)


def _show_status(client, channel: str, thread_ts: str) -> bool:
    try:
        client.assistant_threads_setStatus(channel_id=channel, thread_ts=thread_ts, status="is thinking…")
        return True
    except Exception:  # noqa: BLE001 - not an assistant thread (or no scope): use a placeholder
        log.debug("assistant status not available in %s", channel)
        return False


# --- the retry sweep (questions left pending, see bot.questions) ------------------------------------

def retry_due_questions(app, limit: int = 5) -> int:
    """Answer pending questions whose lease ran out (Bolt `app` with its `bot_deps` and client);
    returns how many were taken."""
    deps = app.bot_deps
    due = claim_due_questions(deps.db, limit)
    for row in due:
        with correlated(f"slack-question-{row['question_id']}"):
            _retry_question(app, deps, row)
    return len(due)


def _retry_question(app, deps, row) -> None:
    """One pending question answered again (or given up on), under its own correlation id."""
    metrics.SLACK_QUESTION_RETRIES.inc()
    if row["attempts"] > MAX_ATTEMPTS:
        try:
            app.client.chat_postMessage(channel=row["channel_id"], thread_ts=row["thread_ts"],
                                        text=GAVE_UP.format(question=row["question"][:200],
                                                            attempts=MAX_ATTEMPTS - 1))
        finally:
            finish_question(deps.db, row["question_id"], "apologised", "gave up after retries")
        return
    log.info("answering Slack question %s again (attempt %s)", row["question_id"], row["attempts"])
    answer_in_thread(deps, app.client, channel=row["channel_id"], thread_ts=row["thread_ts"],
                     user=row["user_id"], question=row["question"], listener="retry",
                     assistant_thread=row["assistant_thread"], question_id=row["question_id"],
                     attempt=row["attempts"])


class RetrySweep:
    """A daemon thread running `retry_due_questions` every INTERVAL seconds while `serve` runs."""

    INTERVAL = 20.0

    def __init__(self, app) -> None:
        self.app = app
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slack-question-retry", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            try:
                retry_due_questions(self.app)
            except Exception as exc:  # noqa: BLE001 - the database may be down; try again next round
                log.warning("Slack question retry sweep failed: %s", exc)
