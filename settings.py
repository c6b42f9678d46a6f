"""Every setting the bot reads, from the environment or `.env`, validated once at startup."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated

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
    redis_url: str | None = Field(None, description="Redis URL; unset uses an in-process cache")
    redis_key_prefix: str = "cib:"
    data_dir: Path = Field(default_factory=_default_data_dir)
    db_pool_max_size: int = Field(10, ge=1, le=200)

    # Anthropic
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    # The newest Haiku-class model in the installed SDK (anthropic 2.12 lists it; not in its DEPRECATED_MODELS).
    anthropic_model: str = "claude-haiku-5-5"
    anthropic_timeout_seconds: float = Field(15.0, gt=0)
    anthropic_max_retries: int = Field(1, ge=0, le=10)

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None
    slack_allowed_channels: CommaList = Field(default_factory=list)
    slack_allowed_users: CommaList = Field(default_factory=list)

    # Gorgias
    gorgias_domain: str | None = None
    gorgias_base_url: str | None = None
    gorgias_username: str | None = None
    gorgias_api_key: SecretStr | None = None
    gorgias_webhook_secret: SecretStr | None = None
    gorgias_agent_user_id: int | None = Field(
        None, description="Gorgias user id the notes are posted as; unset → the API user (GORGIAS_USERNAME)")
    gorgias_skip_tags: CommaList = Field(default_factory=lambda: ["ai_ignore", "no-ai"])
    gorgias_force_tags: CommaList = Field(default_factory=lambda: ["force-ai"])
    gorgias_marketing_senders: CommaList = Field(
        default_factory=lambda: ["newsletter", "marketing", "promo", "news@", "mailchimp", "klaviyo",
                                 "sendgrid", "mailgun", "hubspot", "campaign"],
        description="Sender address fragments treated as marketing mail (skipped)")
    gorgias_note_tags: CommaList = Field(default_factory=list, description="Tags added to a ticket once noted")
    gorgias_set_priority: bool = Field(False, description="Raise the ticket priority for urgent messages")
    gorgias_max_attempts: int = Field(5, ge=1, le=50)
    gorgias_retry_base_seconds: float = Field(5.0, ge=0, description="First retry delay; doubles per attempt")
    gorgias_lease_seconds: float = Field(120.0, gt=0, description="A claimed event returns to the queue after this")
    # Two threads met both burst goals in one process (bench_gorgias); more delay intake acks (GIL).
    gorgias_worker_threads: int = Field(2, ge=0, le=16, description="0 = intake only (another process drains)")
    gorgias_max_body_bytes: int = Field(262_144, ge=1024)
    gorgias_rate_limit_requests: int = Field(40, ge=1)
    gorgias_rate_limit_window_seconds: float = Field(20.0, gt=0)
    gorgias_timeout_seconds: float = Field(15.0, gt=0)
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
    mcp_requests_per_minute: int = Field(120, ge=1, description="Per client address, burst of the same size")

    # Serving
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token for /metrics and readiness details from non-loopback clients; "
                          "unset → /metrics open, readiness details only from loopback")
    port: int = Field(3000, ge=1, le=65535)
    log_level: str | None = Field(None, description="DEBUG/INFO/WARNING; unset: INFO for serve, WARNING for CLI commands")

    # Analytics
    pseudonym_secret: SecretStr | None = Field(
        None, description="Key for C-XXXXXXXX ids; unset uses a random key stored once in the database"
    )
    cache_ttl_seconds: int = Field(900, ge=1)
    min_group_size: int = Field(5, ge=1, description="Aggregates over fewer customers are not broken down")
    # Compensation tiers by lifetime value: "threshold:percent" from the highest down.
    compensation_tiers: CommaList = Field(
        default_factory=lambda: ["10000:25", "1000:20", "500:15", "0:10"]
    )

    # Discovery
    discovery_cron: str = "0 6,18 * * *"
    discovery_min_customers: int = Field(50, ge=1)
    discovery_k_min: int = Field(2, ge=2)
    discovery_k_max: int = Field(6, ge=2, le=20)
    discovery_silhouette_sample: int = Field(5000, ge=100)

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
