"""Everything the test session logs, checked at its end for the fixtures' customer names, emails and
phones and for every secret a test configured. conftest.py installs the capture on the root logger
(with the process's own filters, as `configure_logging` would), turns on the Anthropic SDK's, httpx's,
httpcore's and slack_sdk's debug logging, and fails the session naming the logger and the kind of
what leaked, never the value."""
from __future__ import annotations

import logging
import re
from collections import defaultdict

from pydantic import SecretStr

from observability.logs import log_filters

DEBUG_LOGGERS = ("anthropic", "httpx", "httpcore", "httpx2", "httpcore2", "slack_sdk")   # httpx2: the SDK's own copy
SHORTEST_SECRET = 6   # "s" or "x" as a test secret would match everywhere; such tests prove nothing here


class CaptureHandler(logging.Handler):
    """Keeps (logger, text) of every record: the message and any exception's text. Cheap: no
    formatting beyond getMessage()."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str]] = []
        for log_filter in log_filters():
            self.addFilter(log_filter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is not what this test is about
            text = f"{record.msg} {record.args}"
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + repr(record.exc_info[1])
        self.records.append((record.name, text))


class SecretsSeen:
    """Every secret value given to a Settings object during the session, by variable name."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def record(self, settings) -> None:
        for name, value in settings:
            if isinstance(value, SecretStr):
                secret = value.get_secret_value()
                if len(secret) >= SHORTEST_SECRET:
                    self.values[secret] = name.upper()

    def watch(self, settings_class) -> None:
        """Wrap the Settings constructor and model_copy so every instance reports its secrets."""
        seen, init, copy = self, settings_class.__init__, settings_class.model_copy

        def watched_init(self, *args, **kwargs):
            init(self, *args, **kwargs)
            seen.record(self)

        def watched_copy(self, *args, **kwargs):
            made = copy(self, *args, **kwargs)
            seen.record(made)
            return made

        settings_class.__init__, settings_class.model_copy = watched_init, watched_copy


def _pii_patterns() -> list[tuple[str, re.Pattern]]:
    """(kind, pattern) for the customers the tests load: the hand-written analytics fixture and the
    synthetic store's generator (names from its lists, emails and phones in its reserved ranges)."""
    from discovery import synthetic
    from tests.analytics_fixture import CUSTOMERS

    def alternatives(words) -> str:
        return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))

    names = [name for name, _, _, _ in CUSTOMERS.values()]
    emails = [email for _, email, _, _ in CUSTOMERS.values()]
    phones = [phone for _, _, phone, _ in CUSTOMERS.values()]
    phone_digits = ["".join(ch for ch in phone if ch.isdigit()) for phone in phones]
    last_names = [name.replace("'", "") for name in synthetic._LAST_NAMES] + list(synthetic._LAST_NAMES)
    return [
        ("customer name (fixture)", re.compile(rf"\b(?:{alternatives(names)})\b")),
        ("customer email (fixture)", re.compile(rf"(?:{alternatives(emails)})", re.IGNORECASE)),
        ("customer phone (fixture)",
         re.compile(rf"(?:{alternatives(phones)})|(?<!\d)(?:{alternatives(phone_digits)})(?!\d)")),
        ("customer name (synthetic store)",
         re.compile(rf"\b(?:{alternatives(synthetic._FIRST_NAMES)}) (?:{alternatives(synthetic._LAST_NAMES)})\b")),
        ("customer email (synthetic store)",
         re.compile(rf"\b(?:{alternatives(n.lower() for n in synthetic._FIRST_NAMES)})\."
                    rf"(?:{alternatives(n.lower() for n in last_names)})\d+@", re.IGNORECASE)),
        ("customer phone (synthetic store)",
         re.compile(r"\+1 \(\d{3}\) 555-01\d\d|\+44 20 7946 0\d{3}|\+61 2 5550 \d{4}")),
    ]


def leaks(records: list[tuple[str, str]], secrets: dict[str, str]) -> list[str]:
    """'logger: kind' for every logger whose lines hold PII or a secret (each pair once)."""
    by_logger: dict[str, list[str]] = defaultdict(list)
    for name, text in records:
        by_logger[name].append(text)
    patterns = _pii_patterns()
    found = []
    for name, texts in sorted(by_logger.items()):
        text = "\n".join(texts)
        kinds = [kind for kind, pattern in patterns if pattern.search(text)]
        kinds += sorted({f"secret {variable}" for secret, variable in secrets.items() if secret in text})
        found += [f"{name}: {kind}" for kind in kinds]
    return found


class SessionCapture:
    """Installed for the whole session by conftest.py."""

    def __init__(self) -> None:
        self.handler = CaptureHandler()
        self.secrets = SecretsSeen()
        self._levels: dict[str, int] = {}

    def start(self, settings_class) -> None:
        self.secrets.watch(settings_class)
        root = logging.getLogger()
        root.addHandler(self.handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)   # the project's info lines too, as `serve` logs them
        for name in DEBUG_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)

    def problems(self) -> list[str]:
        return leaks(self.handler.records, self.secrets.values)
