"""The circuit breaker around the Claude client, driven through the real SDK against the loopback
fake Anthropic. Found by bench/bench_faults.py: with the API hanging, every question and Gorgias
draft waited out timeout × retries, so answers queued for 20 s and more behind the answer slots."""
from __future__ import annotations

import time

import anthropic
import pytest

from analytics.claude_breaker import ClaudeBreaker, ClaudeCircuitOpen
from analytics.router.claude import describe_api_error
from tests.fake_anthropic import FakeAnthropic, end_turn, error, hang


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _breaker(fake: FakeAnthropic, clock: Clock, timeout: float = 5.0) -> ClaudeBreaker:
    client = anthropic.Anthropic(api_key="k", base_url=fake.url, max_retries=0, timeout=timeout)
    return ClaudeBreaker(client, failures_to_open=3, open_seconds=15.0, clock=clock)


def _ask(breaker: ClaudeBreaker):
    return breaker.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])


def test_after_three_failures_calls_fail_at_once_until_a_trial_succeeds():
    clock = Clock()
    with FakeAnthropic(script=[error(500)] * 3 + [end_turn("back")]) as fake:
        breaker = _breaker(fake, clock)
        for _ in range(3):
            with pytest.raises(anthropic.InternalServerError):
                _ask(breaker)
        assert breaker.is_open
        started = time.perf_counter()
        with pytest.raises(ClaudeCircuitOpen) as raised:
            _ask(breaker)
        assert time.perf_counter() - started < 0.05 and len(fake.requests) == 3   # the API was not called
        assert isinstance(raised.value, anthropic.APIError)   # what the router and drafts already catch
        assert describe_api_error(raised.value) == "the Claude API failed repeatedly and is paused"
        clock.now += 15.1
        assert _ask(breaker).content[0].text == "back"        # the trial call closes it
        assert not breaker.is_open and len(fake.requests) == 4


def test_a_failed_trial_opens_it_again_and_timeouts_count():
    clock = Clock()
    with FakeAnthropic(script=[hang(2.0)] * 4) as fake:
        breaker = _breaker(fake, clock, timeout=0.3)
        for _ in range(3):
            with pytest.raises(anthropic.APITimeoutError):
                _ask(breaker)
        clock.now += 15.1
        with pytest.raises(anthropic.APITimeoutError):
            _ask(breaker)                                     # the trial fails …
        with pytest.raises(ClaudeCircuitOpen):
            _ask(breaker)                                     # … and it is open again at once
        assert len(fake.requests) == 4


def test_errors_in_our_request_do_not_open_it_and_a_success_resets_the_count():
    clock = Clock()
    with FakeAnthropic(script=[error(400, "bad request")] * 4 + [error(529), error(529), end_turn("ok"),
                                                                  error(529), error(529), end_turn("ok")]) as fake:
        breaker = _breaker(fake, clock)
        for _ in range(4):
            with pytest.raises(anthropic.BadRequestError):
                _ask(breaker)
        assert not breaker.is_open
        for _ in range(2):
            for _ in range(2):
                with pytest.raises(anthropic.APIStatusError):
                    _ask(breaker)
            assert _ask(breaker).content[0].text == "ok"      # two failures, then a success: still closed
        assert not breaker.is_open and len(fake.requests) == 10
