"""Every setting the bot reads, from the environment or `.env`, validated once at startup."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_data_dir() -> Path:
    # Per-user, reused across runs: the embedded database and generated files live here.
    return Path.home() / ".local" / "share" / "customer-intel-bot"


CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Storage
    database_url: str | None = Field(None, description="PostgreSQL URL; unset starts an embedded server under DATA_DIR")
    database_connect_timeout_seconds: int = Field(
        5, ge=1, le=300, description="Seconds to wait for a new PostgreSQL connection (libpq connect_timeout)")
    database_statement_timeout_seconds: float = Field(
        0.0, ge=0, description="PostgreSQL statement_timeout for the bot's connections; 0 = none (discovery's "
                               "long statements on a large store need minutes)")
    redis_url: str | None = Field(None, description="Redis URL for the shared answer cache and rate limits; unset: "
                                                    "in-process cache and per-process limits")
    redis_key_prefix: str = Field("cib:", description="Prefix of every Redis key")
    redis_socket_timeout_seconds: float = Field(
        0.25, gt=0, le=30, description="Redis connect and command timeout; a slower Redis is treated as down "
                                       "(answers come from PostgreSQL meanwhile)")
    data_dir: Path = Field(default_factory=_default_data_dir,
                           description="The embedded database, exports and the demo's truth file "
                                       "(~/.local/share/customer-intel-bot by default)")
    db_pool_max_size: int = Field(10, ge=1, le=200, description="Connections in the PostgreSQL pool")

    # Anthropic
    anthropic_api_key: SecretStr | None = Field(None, description="Set: Claude answers; unset: the offline router")
    anthropic_base_url: str | None = Field(None, description="Another Anthropic endpoint (tests use a loopback fake)")
    # The newest Haiku-class model in the installed SDK (anthropic 2.12 lists it; not in its DEPRECATED_MODELS).
    anthropic_model: str = Field("claude-haiku-5-5", description="The model Claude answers with")
    anthropic_timeout_seconds: float = Field(15.0, gt=0, description="Per Anthropic API attempt; then the offline "
                                                                      "router answers")
    anthropic_max_retries: int = Field(1, ge=0, le=10, description="Retries per Anthropic API call")

    # Slack
    slack_bot_token: SecretStr | None = Field(None, description="The bot's xoxb- token; unset: serve answers "
                                                                "health, Gorgias and MCP only")
    slack_signing_secret: SecretStr | None = Field(None, description="Verifies Slack's HTTP requests (HTTP mode)")
    slack_app_token: SecretStr | None = Field(None, description="The app-level xapp- token: set → Socket Mode")
    slack_api_url: str | None = Field(None, description="Base URL of the Slack Web API (tests)")
    slack_timeout_seconds: float = Field(15.0, gt=0, le=120, description="Per Slack Web API call")
    slack_allowed_channels: CommaList = Field(default_factory=list, description="Comma-separated channel ids the "
                                                                                "bot answers in (empty: all)")
    slack_allowed_users: CommaList = Field(default_factory=list, description="Comma-separated user ids the bot "
                                                                             "answers (empty: all)")
    slack_user_questions: int = Field(
        10, ge=1, description="Questions (mentions, DMs, slash commands) one person may ask per "
                              "SLACK_RATE_WINDOW_SECONDS; more get a note saying when to try again")
    slack_channel_questions: int = Field(
        30, ge=1, description="Questions one channel (or DM) may ask per SLACK_RATE_WINDOW_SECONDS")
    slack_rate_window_seconds: float = Field(60.0, gt=0, description="The window of the Slack question limits")

    # Gorgias
    gorgias_domain: str | None = Field(None, description="yourstore → https://yourstore.gorgias.com")
    gorgias_base_url: str | None = Field(None, description="Overrides the domain's URL (tests)")
    gorgias_username: str | None = Field(None, description="The Gorgias API user's email")
    gorgias_api_key: SecretStr | None = Field(None, description="Gorgias REST API key")
    gorgias_webhook_secret: SecretStr | None = Field(None, description="The X-Webhook-Token the HTTP integration "
                                                                       "sends")
    gorgias_agent_user_id: int | None = Field(
        None, description="Gorgias user id the notes are posted as; unset → the API user (GORGIAS_USERNAME)")
    gorgias_skip_tags: CommaList = Field(default_factory=lambda: ["ai_ignore", "no-ai"],
                                         description="Tickets with these tags are skipped")
    gorgias_force_tags: CommaList = Field(default_factory=lambda: ["force-ai"],
                                          description="Tickets with these tags are noted whatever the filters say "
                                                      "(loop guards still apply)")
    gorgias_marketing_senders: CommaList = Field(
        default_factory=lambda: ["newsletter", "marketing", "promo", "news@", "mailchimp", "klaviyo",
                                 "sendgrid", "mailgun", "hubspot", "campaign"],
        description="Sender address fragments treated as marketing mail (skipped)")
    gorgias_note_tags: CommaList = Field(default_factory=list, description="Tags added to a ticket once noted")
    gorgias_set_priority: bool = Field(False, description="Raise the ticket priority for urgent messages")
    gorgias_max_attempts: int = Field(5, ge=1, le=50, description="Attempts before an event is parked")
    gorgias_retry_base_seconds: float = Field(5.0, ge=0, description="First retry delay; doubles per attempt")
    gorgias_lease_seconds: float = Field(120.0, gt=0, description="A claimed event returns to the queue after this")
    # Two threads met both burst goals in one process (bench_gorgias); more delay intake acks (GIL).
    gorgias_worker_threads: int = Field(2, ge=0, le=16, description="Worker threads in the web process; "
                                                                     "0 = intake only (another process drains)")
    gorgias_max_body_bytes: int = Field(262_144, ge=1024, description="Larger webhook bodies get 413")
    gorgias_rate_limit_requests: int = Field(40, ge=1, description="REST requests per window (Gorgias allows 40 "
                                                                   "per 20 s per API key)")
    gorgias_rate_limit_window_seconds: float = Field(20.0, gt=0, description="The REST rate-limit window")
    gorgias_timeout_seconds: float = Field(15.0, gt=0, description="Per Gorgias REST request")
    gorgias_webhook_requests: int = Field(
        1200, ge=1, description="Webhook deliveries one source address may make per "
                                "GORGIAS_WEBHOOK_WINDOW_SECONDS; more get 429 with Retry-After")
    gorgias_webhook_window_seconds: float = Field(60.0, gt=0, description="The window of the webhook limit")
    gorgias_store_name: str = Field("our store", description="How drafts refer to the store")

    @field_validator("gorgias_skip_tags", "gorgias_force_tags", "gorgias_marketing_senders",
                     "gorgias_note_tags", mode="before")
    @classmethod
    def _split_gorgias_lists(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    # Shopify (a custom app's Admin API token; `sync shopify`, the scheduled sync and /shopify/webhook)
    shopify_shop: str | None = Field(
        None, description="The store: 'my-store' or 'my-store.myshopify.com' (stored as the latter)")
    shopify_access_token: SecretStr | None = Field(None, description="The custom app's Admin API access token")
    shopify_api_version: str = Field("2025-10", pattern=r"^\d{4}-\d{2}$|^unstable$",
                                     description="Admin API version, YYYY-MM")
    shopify_webhook_secret: SecretStr | None = Field(
        None, description="The app's client secret: webhooks are refused (401) unless their HMAC matches")
    shopify_api_url: str | None = Field(
        None, description="Base URL instead of https://{SHOPIFY_SHOP} (tests, proxies)")
    shopify_sync_minutes: int = Field(15, ge=1, le=1440, description="How often `serve` syncs orders")
    shopify_page_size: int = Field(
        4, ge=1, le=250, description="Orders per GraphQL page, at most what fits Shopify's 1,000-point query cost "
                                     "with the lines and refunds each order asks for (4)")
    shopify_timeout_seconds: float = Field(30.0, gt=0, description="One Admin API request's timeout")
    shopify_max_retries: int = Field(6, ge=0, le=20, description="Retries of a throttled or failed request")
    shopify_overlap_seconds: int = Field(
        300, ge=0, description="Each sync asks for orders updated since the last mark minus this much")

    @field_validator("shopify_shop", mode="after")
    @classmethod
    def _normalise_shop(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        shop = value.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
        if not shop.endswith(".myshopify.com"):
            shop += ".myshopify.com"
        handle = shop.removesuffix(".myshopify.com")
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,59}", handle):
            raise ValueError(f"{value!r} is not a shop name such as 'my-store' or 'my-store.myshopify.com'")
        return shop

    @property
    def shopify_configured(self) -> bool:
        """Shop and token set: the sync can run."""
        return self.shopify_shop is not None and self.shopify_access_token is not None

    # Model Context Protocol over HTTP (`serve` mounts /mcp only when the token is set)
    mcp_token: SecretStr | None = Field(None, description="Bearer token for /mcp; unset → no MCP over HTTP")
    mcp_requests_per_minute: int = Field(120, ge=1, description="Requests per minute per client address at /mcp; "
                                                                "more get 429 with Retry-After")

    # Serving
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token for /metrics and readiness details from non-loopback clients; "
                          "unset → /metrics open, readiness details only from loopback")
    port: int = Field(3000, ge=1, le=65535, description="The port serve listens on")
    log_level: str | None = Field(None, description="DEBUG/INFO/WARNING; unset: INFO for serve, WARNING for CLI commands")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="json: one JSON object per line; text: readable lines; auto: text when the log "
                            "stream (stderr) is a terminal, else json")

    # Analytics
    pseudonym_secret: SecretStr | None = Field(
        None, description="Key for C-XXXXXXXX ids; unset uses a random key stored once in the database"
    )
    cache_ttl_seconds: int = Field(900, ge=1, description="How long a cached answer lives")
    min_group_size: int = Field(5, ge=1, description="Aggregates over fewer customers are not broken down")
    compensation_tiers: CommaList = Field(
        default_factory=lambda: ["10000:25", "1000:20", "500:15", "0:10"],
        description="lifetime value:discount % pairs, highest first; also the value tiers whale / vip / high / regular",
    )

    # The bot speaking first: the customer review and alerts (docs/ALERTS.md)
    store_timezone: str = Field("UTC", description="IANA time zone of the store (Europe/Paris): review "
                                "periods, the review's due hour and quiet hours are in it")
    digest_hour: int = Field(8, ge=0, le=23, description="Store-local hour from which the day's (or, on "
                             "Mondays, the week's) review is due")
    alert_quiet_hours: str = Field("", description="Store-local 'HH-HH' (22-07) when alerts are held, "
                                   "sent once it ends; empty = none")
    alerts_per_channel_per_day: int = Field(3, ge=1, le=50, description="More wait for the next day")
    alert_stale_data_days: int = Field(3, ge=1, description="Alert when no order is newer than this")
    alert_stale_run_hours: int = Field(48, ge=1, description="Alert when the current discovery run is older")

    @field_validator("store_timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone name such as Europe/Paris") from None
        return value

    @field_validator("alert_quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str) -> str:
        value = value.strip()
        match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", value)
        if value and (match is None or not all(0 <= int(h) <= 23 for h in match.groups())
                      or match.group(1) == match.group(2)):
            raise ValueError(f"{value!r} is not 'HH-HH' with two different hours from 0 to 23 (22-07)")
        return value

    @property
    def store_zone(self) -> ZoneInfo:
        return ZoneInfo(self.store_timezone)

    @property
    def quiet_hours(self) -> tuple[int, int] | None:
        """(first quiet hour, first hour no longer quiet), store-local; None without quiet hours."""
        if not self.alert_quiet_hours:
            return None
        start, end = self.alert_quiet_hours.split("-")
        return int(start), int(end)

    # Discovery
    discovery_cron: str = Field("0 6,18 * * *", description="When serve runs discovery (crontab, UTC)")
    discovery_min_customers: int = Field(50, ge=1, description="Fewer customers → the run is rejected")
    discovery_k_min: int = Field(2, ge=2, description="Fewest segments tried per axis")
    discovery_k_max: int = Field(6, ge=2, le=20, description="Most segments tried per axis")
    discovery_silhouette_sample: int = Field(5000, ge=100, description="Customers sampled to choose the number "
                                                                        "of segments")

    @field_validator("slack_allowed_channels", "slack_allowed_users", "compensation_tiers", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        # `.env` values are not expanded by a shell: DATA_DIR=~/bot must mean the home folder.
        return value.expanduser()

    @field_validator("compensation_tiers")
    @classmethod
    def _check_tiers(cls, tiers: list[str]) -> list[str]:
        for tier in tiers:
            threshold, _, percent = tier.partition(":")
            try:
                float(threshold), float(percent)
            except ValueError:
                raise ValueError(f"tier {tier!r} is not 'threshold:percent'") from None
        return tiers

    @property
    def compensation_table(self) -> list[tuple[float, float]]:
        """(lifetime value threshold, discount percent), highest threshold first."""
        pairs = [tuple(float(x) for x in tier.split(":")) for tier in self.compensation_tiers]
        return sorted(pairs, reverse=True)  # type: ignore[arg-type]


class SettingsError(Exception):
    """A setting has an invalid value; the message names the environment variable."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            variable = str(error["loc"][0]).upper() if error["loc"] else "?"
            problems.append(f"{variable}: {error['msg']}")
        raise SettingsError("Invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
