"""Durable Slack questions (table `slack_questions`, the Gorgias inbox's pattern): a question is
recorded before it is answered and marked when it is answered or apologised for. One left pending
(its connection dropped, the process died mid-answer) is claimed again by `claim_due_questions`
(bot.answering's retry sweep answers it); after MAX_ATTEMPTS it gets a final apology."""
from __future__ import annotations

import logging
import random
import threading
import time

import psycopg

from sql import query
from sql.database import FAST_TIMEOUT, retry_if_dropped

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
LEASE_SECONDS = 120
GAVE_UP = ("Sorry, I couldn't answer “{question}” — I lost my connection to the store's data and "
           "retried {attempts} times. Please ask again in a few minutes.")


def is_connection_failure(exc: BaseException) -> bool:
    """A failure the same question may not hit again: the database connection, not the question."""
    return isinstance(exc, psycopg.OperationalError)


def record_question(db, *, channel: str, thread_ts: str, user: str | None, question: str, listener: str,
                    assistant_thread: bool) -> int | None:
    """The new question's id, or None when it cannot be written down (the database is down: it is
    answered anyway, just not durably)."""
    def insert() -> int:
        with db.cursor(timeout=FAST_TIMEOUT) as cur:
            cur.execute(query("slack.record_question"), {
                "channel_id": channel, "thread_ts": thread_ts, "user_id": user, "question": question[:4000],
                "listener": listener, "assistant_thread": assistant_thread})
            return cur.fetchone()["question_id"]
    try:
        return retry_if_dropped(insert, "recording a Slack question")
    except Exception as exc:  # noqa: BLE001 - never stop an answer for want of a record
        log.warning("could not record a Slack question in %s: %s", channel, exc)
        return None


def finish_question(db, question_id: int | None, status: str, error: str | None = None) -> None:
    """Mark the question answered or apologised for. The answer is already in Slack: a question left
    pending would be answered a second time by the sweep once its lease runs out, so when the
    database is down the mark is retried in the background for half the lease."""
    if question_id is None:
        return

    def mark() -> None:
        with db.cursor(timeout=FAST_TIMEOUT) as cur:
            cur.execute(query("slack.finish_question"),
                        {"question_id": question_id, "status": status, "error": error and error[:2000]})
            if random.random() < 0.01:
                cur.execute(query("slack.forget_old_questions"))

    try:
        mark()
    except Exception as exc:  # noqa: BLE001 - keep trying, away from the answering thread
        log.warning("could not mark Slack question %s %s (%s); retrying in the background", question_id, status, exc)
        threading.Thread(target=_keep_marking, args=(mark, question_id, status), daemon=True,
                         name=f"slack-question-{question_id}").start()


def _keep_marking(mark, question_id: int, status: str) -> None:
    deadline, delay = time.monotonic() + LEASE_SECONDS / 2, 0.5
    while time.monotonic() < deadline:
        time.sleep(delay)
        try:
            mark()
            log.info("Slack question %s marked %s after the database came back", question_id, status)
            return
        except Exception:  # noqa: BLE001 - still down
            delay = min(delay * 2, 5.0)
    log.error("could not mark Slack question %s %s: the retry sweep may answer it again", question_id, status)


def claim_due_questions(db, limit: int = 5) -> list[dict]:
    """Pending questions whose lease ran out, their lease renewed and attempt counted."""
    with db.cursor(timeout=FAST_TIMEOUT) as cur:
        cur.execute(query("slack.claim_questions"), {"limit": limit, "lease_seconds": LEASE_SECONDS})
        return cur.fetchall()
