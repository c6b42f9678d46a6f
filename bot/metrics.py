"""Process-wide counters and latency histograms in Prometheus' text format, without a client
library: the bot and the web app record into one registry that `GET /metrics` renders."""
from __future__ import annotations

import bisect
import threading
from collections import defaultdict

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_HELP = {
    "cib_http_requests_total": ("counter", "HTTP requests by path and status"),
    "cib_http_request_seconds": ("histogram", "HTTP request latency by path"),
    "cib_slack_requests_total": ("counter", "Slack requests by kind (event, command, action)"),
    "cib_slack_answers_total": ("counter", "Answers posted by source (claude, offline, command)"),
    "cib_slack_ack_seconds": ("histogram", "Server time to acknowledge a Slack request, by listener"),
    "cib_slack_listener_seconds": ("histogram", "Time from receipt to the answer posted, by listener"),
    "cib_slack_errors_total": ("counter", "Listener failures by listener"),
    "cib_slack_duplicate_events_total": ("counter", "Retried events skipped because already handled"),
    "cib_slack_fallbacks_total": ("counter", "Messages re-sent without new blocks after invalid_blocks"),
}


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    body = ",".join(f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                    for k, v in sorted(labels.items()))
    return "{" + body + "}"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple], float] = defaultdict(float)
        self._histograms: dict[tuple[str, tuple], list] = {}

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        with self._lock:
            self._counters[(name, tuple(sorted(labels.items())))] += amount

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            entry = self._histograms.setdefault(key, [[0] * len(_BUCKETS), 0.0, 0])
            index = bisect.bisect_left(_BUCKETS, seconds)
            if index < len(_BUCKETS):
                entry[0][index] += 1
            entry[1] += seconds
            entry[2] += 1

    def counter_value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters.get((name, tuple(sorted(labels.items()))), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            counters = sorted(self._counters.items())
            histograms = sorted(self._histograms.items())
        seen: set[str] = set()

        def describe(name: str) -> None:
            if name not in seen and name in _HELP:
                kind, text = _HELP[name]
                lines.append(f"# HELP {name} {text}")
                lines.append(f"# TYPE {name} {kind}")
            seen.add(name)

        for (name, labels), value in counters:
            describe(name)
            lines.append(f"{name}{_labels(dict(labels))} {value:g}")
        for (name, labels), (buckets, total, count) in histograms:
            describe(name)
            cumulative = 0
            for bound, n in zip(_BUCKETS, buckets):
                cumulative += n
                lines.append(f"{name}_bucket{_labels(dict(labels, le=f'{bound:g}'))} {cumulative}")
            lines.append(f"{name}_bucket{_labels(dict(labels, le='+Inf'))} {count}")
            lines.append(f"{name}_sum{_labels(dict(labels))} {total:.6f}")
            lines.append(f"{name}_count{_labels(dict(labels))} {count}")
        return "\n".join(lines) + "\n"


METRICS = Metrics()
