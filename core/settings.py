"""The one typed settings object, read from the environment and validated at start."""

from __future__ import annotations

from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.caller_ranges import CallerRange, HealthRules, parse_blocked_ranges, seed_ranges
from core.number_pool import NumberPool
from core.trunks import parse_trunks

DEV_ADMIN_TOKEN = "dev-admin-token"
DEV_CODE_SECRET = "dev-code-secret"


# How long a Kannel submission sent and never answered waits for its delivery report before
# it is sent again (processors/kannel.py): a report comes within seconds of a delivery.
KANNEL_CONFIRM_SECONDS = 15.0


class Settings(BaseSettings):
    """Every knob of the platform; names match the environment variables (upper case)."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development", alias="FLASHCALL_ENV"
    )
    http_host: str = Field("127.0.0.1", alias="FLASHCALL_HTTP_HOST")
    http_port: int = Field(8000, alias="FLASHCALL_HTTP_PORT")
    admin_token: str = Field(DEV_ADMIN_TOKEN, alias="FLASHCALL_ADMIN_TOKEN")
    # Keys the derivation of caller numbers from call ids (so retried requests get the same code).
    code_secret: str = Field(DEV_CODE_SECRET, alias="FLASHCALL_CODE_SECRET")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    kafka_bootstrap_servers: str | None = Field(None, alias="KAFKA_BOOTSTRAP_SERVERS")
    topic_partitions: int = Field(6, alias="FLASHCALL_TOPIC_PARTITIONS", ge=1)
    # Copies of each partition when a topic is created (3 on a production cluster, with the
    # brokers' min.insync.replicas at 2: docs/operations.md).
    topic_replication: int = Field(1, alias="FLASHCALL_TOPIC_REPLICATION", ge=1)
    carrier: Literal["sim", "sip"] = Field("sim", alias="FLASHCALL_CARRIER")
    # The SIP carrier (docs/telephony.md): trunks in order of preference, how long a call rings
    # before it is cancelled, and each trunk's limits. T1 is RFC 3261's round-trip estimate.
    sip_trunks: str = Field("", alias="FLASHCALL_SIP_TRUNKS")
    sip_ring_seconds: float = Field(3.0, alias="FLASHCALL_SIP_RING_SECONDS", ge=0)
    sip_max_concurrent: int = Field(100, alias="FLASHCALL_SIP_MAX_CONCURRENT", ge=1)
    sip_cps: float = Field(10.0, alias="FLASHCALL_SIP_CPS", gt=0)
    sip_t1_ms: int = Field(500, alias="FLASHCALL_SIP_T1_MS", ge=1)
    # An answered flash call is hung up after this (answered seconds are billed).
    sip_answered_hangup_ms: int = Field(0, alias="FLASHCALL_SIP_ANSWERED_HANGUP_MS", ge=0)
    # host[:port] the carrier reaches us at, for Via and Contact (behind NAT, in a container).
    sip_public_address: str | None = Field(None, alias="FLASHCALL_SIP_PUBLIC_ADDRESS")
    # TLS trunks: the CA file that signs the carrier's certificate (a private CA); the
    # system's trusted CAs otherwise. Certificates are always verified.
    sip_tls_ca_file: str | None = Field(None, alias="FLASHCALL_SIP_TLS_CA_FILE")
    # host:port of the DNS server trunks are located with (RFC 3263); the system's otherwise.
    sip_dns_server: str | None = Field(None, alias="FLASHCALL_SIP_DNS_SERVER")
    # OPTIONS to every trunk this often (0: never); one that does not answer leaves rotation.
    sip_options_interval_seconds: float = Field(
        0.0, alias="FLASHCALL_SIP_OPTIONS_INTERVAL_SECONDS", ge=0
    )
    # Seeds the caller ranges on the first start (docs/ranges.md); after that they are data.
    number_pool: str = Field("+982191xxxxxxxx", alias="FLASHCALL_NUMBER_POOL")
    # The range health rule (core/caller_ranges.py HealthRules; docs/ranges.md).
    range_window_seconds: int = Field(60, alias="FLASHCALL_RANGE_WINDOW_SECONDS", ge=10)
    range_min_sample: int = Field(10, alias="FLASHCALL_RANGE_MIN_SAMPLE", ge=1)
    range_quarantine_below: float = Field(0.5, alias="FLASHCALL_RANGE_QUARANTINE_BELOW", gt=0, lt=1)
    range_release_at: float = Field(0.8, alias="FLASHCALL_RANGE_RELEASE_AT", gt=0, le=1)
    range_baseline_floor: float = Field(0.5, alias="FLASHCALL_RANGE_BASELINE_FLOOR", gt=0, le=1)
    range_quarantine_seconds: int = Field(60, alias="FLASHCALL_RANGE_QUARANTINE_SECONDS", ge=1)
    range_max_quarantine_seconds: int = Field(
        600, alias="FLASHCALL_RANGE_MAX_QUARANTINE_SECONDS", ge=1
    )
    range_probe_share: float = Field(0.1, alias="FLASHCALL_RANGE_PROBE_SHARE", gt=0, le=1)
    range_probe_sample: int = Field(3, alias="FLASHCALL_RANGE_PROBE_SAMPLE", ge=1)
    # The SMS channel of workflows (docs/workflows.md): the simulated SMS centre, or Kannel.
    sms_carrier: Literal["sim", "kannel"] = Field("sim", alias="FLASHCALL_SMS_CARRIER")
    # The sender an SMS shows (Kannel's `from`; the simulated handsets keep it).
    sms_sender: str = Field("FlashCall", alias="FLASHCALL_SMS_SENDER", min_length=1)
    # Kannel (FLASHCALL_SMS_CARRIER=kannel; processors/kannel.py): its smsbox's sendsms URL and
    # sendsms-user, where it reaches this worker for delivery reports (default the worker's
    # metrics address, which serves them), the submissions a second of each dialer worker,
    # how long a send retries while Kannel is away, and how long a report is waited for.
    kannel_sendsms_url: str | None = Field(None, alias="FLASHCALL_KANNEL_SENDSMS_URL")
    kannel_username: str = Field("flashcall", alias="FLASHCALL_KANNEL_USERNAME")
    kannel_password: str = Field("", alias="FLASHCALL_KANNEL_PASSWORD")
    kannel_dlr_url: str | None = Field(None, alias="FLASHCALL_KANNEL_DLR_URL")
    kannel_cps: float = Field(20.0, alias="FLASHCALL_KANNEL_CPS", gt=0)
    kannel_send_timeout_seconds: float = Field(
        30.0, alias="FLASHCALL_KANNEL_SEND_TIMEOUT_SECONDS", gt=0
    )
    kannel_dlr_timeout_seconds: float = Field(
        90.0, alias="FLASHCALL_KANNEL_DLR_TIMEOUT_SECONDS", gt=0
    )
    sim_dial_min_ms: int = Field(100, alias="FLASHCALL_SIM_DIAL_MIN_MS", ge=0)
    sim_dial_max_ms: int = Field(500, alias="FLASHCALL_SIM_DIAL_MAX_MS", ge=0)
    # `<caller prefix>@<network>,…`: the simulated carrier never rings calls from a caller
    # number with that prefix to a phone of that network (they end unreachable).
    sim_blocked_ranges: str = Field("", alias="FLASHCALL_SIM_BLOCKED_RANGES")
    dial_concurrency: int = Field(200, alias="FLASHCALL_DIAL_CONCURRENCY", ge=1)
    # A dial still going on after this long is told by a DialStarted (shorter ones only by
    # their outcome, which carries when they began).
    dialing_notice_ms: int = Field(1000, alias="FLASHCALL_DIALING_NOTICE_MS", ge=0)
    # A dial claimed by a worker that died before the carrier answered ends as carrier_error.
    dial_abandon_seconds: float = Field(180.0, alias="FLASHCALL_DIAL_ABANDON_SECONDS", gt=0)
    default_region: str = Field("IR", alias="FLASHCALL_DEFAULT_REGION")
    price_per_call: int = Field(1000, alias="FLASHCALL_PRICE_PER_CALL", ge=0)
    # An account's price of a delivered SMS unless the operator sets one.
    price_per_sms: int = Field(1500, alias="FLASHCALL_DEFAULT_PRICE_PER_SMS", ge=0)
    default_credit_limit: int = Field(1_000_000, alias="FLASHCALL_DEFAULT_CREDIT_LIMIT", ge=0)
    # How far below zero the sum of an account's service balances may go, for accounts whose
    # operator has not set their own total_credit_limit (docs/billing.md).
    default_total_credit_limit: int = Field(
        5_000_000, alias="FLASHCALL_DEFAULT_TOTAL_CREDIT_LIMIT", ge=0
    )
    phone_calls_per_hour: int = Field(5, alias="FLASHCALL_PHONE_CALLS_PER_HOUR", ge=1)
    # Call-pumping detection (core/fraud.py, docs/fraud.md).
    fraud_prefix_digits: int = Field(7, alias="FLASHCALL_FRAUD_PREFIX_DIGITS", ge=1, le=12)
    fraud_window_seconds: float = Field(600.0, alias="FLASHCALL_FRAUD_WINDOW_SECONDS", gt=0)
    fraud_baseline_seconds: float = Field(86_400.0, alias="FLASHCALL_FRAUD_BASELINE_SECONDS", gt=0)
    fraud_min_unverified: int = Field(30, alias="FLASHCALL_FRAUD_MIN_UNVERIFIED", ge=1)
    fraud_max_conversion: float = Field(0.05, alias="FLASHCALL_FRAUD_MAX_CONVERSION", ge=0, le=1)
    fraud_surge: float = Field(10.0, alias="FLASHCALL_FRAUD_SURGE", ge=1)
    fraud_cool_off_seconds: float = Field(3600.0, alias="FLASHCALL_FRAUD_COOL_OFF_SECONDS", gt=0)
    key_calls_per_second: int = Field(1000, alias="FLASHCALL_KEY_CALLS_PER_SECOND", ge=1)
    retry_chain_max: int = Field(4, alias="FLASHCALL_RETRY_CHAIN_MAX", ge=1)
    verify_max_attempts: int = Field(5, alias="FLASHCALL_VERIFY_MAX_ATTEMPTS", ge=1)
    # Length of a "minute" of code validity. Only tests shorten it, so expiry can be observed.
    ttl_minute_seconds: float = Field(60.0, alias="FLASHCALL_TTL_MINUTE_SECONDS", gt=0)
    expiry_interval_seconds: float = Field(0.2, alias="FLASHCALL_EXPIRY_INTERVAL_SECONDS", gt=0)
    # The step timer looks at least this often for delivered steps past their timeout.
    step_timer_horizon_seconds: float = Field(
        1.0, alias="FLASHCALL_STEP_TIMER_HORIZON_SECONDS", gt=0
    )
    reply_timeout_seconds: float = Field(10.0, alias="FLASHCALL_REPLY_TIMEOUT_SECONDS", gt=0)
    # How long a management write waits for the read model and every replica to have it before
    # answering 503 "accepted, but the read model is behind" (docs/api.md).
    read_model_wait_seconds: float = Field(10.0, alias="FLASHCALL_READ_MODEL_WAIT_SECONDS", gt=0)
    # How often each API replica tidies what has served its time: the limits' counts past
    # their windows, the Idempotency-Keys past their 24 h (front_door/housekeeping.py).
    sweep_seconds: float = Field(60.0, alias="FLASHCALL_SWEEP_SECONDS", gt=0)
    # Short group timeouts: group joins wait about half of it (see docs/events.md).
    kafka_session_timeout_ms: int = Field(6000, alias="FLASHCALL_KAFKA_SESSION_TIMEOUT_MS")
    # A consumer that waits this long for its partitions moves its workers to a new consumer
    # group (runtime/consumer_groups.py): the embedded broker can leave a group stuck for
    # good (launch/broker.py sets it). Unset: never (Apache Kafka mends its groups itself).
    kafka_group_stuck_seconds: float | None = Field(
        None, alias="FLASHCALL_KAFKA_GROUP_STUCK_SECONDS", gt=0
    )
    # How long a consumer's fetch waits for records: consumers on a call's path (decisions,
    # dialer, the API's answers), and the others (projection). Apache Kafka answers as soon as
    # a record arrives; the embedded broker only when the wait is over, so launch/broker.py
    # sets shorter waits there.
    kafka_fetch_wait_ms: int = Field(500, alias="FLASHCALL_KAFKA_FETCH_WAIT_MS", ge=0)
    kafka_background_fetch_wait_ms: int | None = Field(
        None, alias="FLASHCALL_KAFKA_BACKGROUND_FETCH_WAIT_MS", ge=0
    )
    # An append the broker has not acknowledged within this fails: the API answers 503 (the
    # client asks again), a processor leaves the event in its outbox for later.
    kafka_delivery_timeout_ms: int = Field(
        10_000, alias="FLASHCALL_KAFKA_DELIVERY_TIMEOUT_MS", ge=1000
    )
    # How long each consumer remembers the event ids it applied (duplicates published under
    # new offsets, e.g. an outbox row sent twice, arrive within seconds).
    dedup_retention_hours: float = Field(168.0, alias="FLASHCALL_DEDUP_RETENTION_HOURS", gt=0)
    # Calls requested longer ago than this are deleted from the reports' rows (unset: kept);
    # the summaries' rolled-up numbers outlive them (docs/operations.md).
    call_retention_days: float | None = Field(None, alias="FLASHCALL_CALL_RETENTION_DAYS", gt=0)
    # At most this many PostgreSQL connections in each process's main pool (the API's requests,
    # a worker's consumers): replicas × this must fit PostgreSQL's max_connections
    # (docs/scaling.md).
    db_pool_size: int = Field(20, alias="FLASHCALL_DB_POOL_SIZE", ge=2)
    # At most this many records a consumer applies in one transaction (under load; a quiet
    # consumer applies what has come).
    processor_batch_size: int = Field(2000, alias="FLASHCALL_PROCESSOR_BATCH_SIZE", ge=1)
    processor_roles: str = Field(
        "decisions,dialer,expiry,projections,ingress,webhooks", alias="FLASHCALL_PROCESSOR_ROLES"
    )
    # How soon the ingress processor reads a newly enabled account's ingress topic (it
    # subscribes by pattern; librdkafka looks for new topics this often).
    ingress_discovery_ms: int = Field(5000, alias="FLASHCALL_INGRESS_DISCOVERY_MS", ge=100)
    # The web panel (/panel/): whether anyone may sign up, cookie flags, session length, the
    # time zone its dates are shown in, and how many sign-in attempts an email or an address
    # gets per 15 minutes.
    panel_signup: bool = Field(True, alias="FLASHCALL_PANEL_SIGNUP")
    panel_secure_cookies: bool = Field(True, alias="FLASHCALL_PANEL_SECURE_COOKIES")
    panel_session_hours: float = Field(12.0, alias="FLASHCALL_PANEL_SESSION_HOURS", gt=0)
    panel_timezone: str = Field("Asia/Tehran", alias="FLASHCALL_PANEL_TIMEZONE")
    # Webhooks (docs/webhooks.md): targets on private, loopback or link-local addresses are
    # refused unless allowed; attempt n waits the schedule's n-th step × the base; a delivery
    # still failing after the retry window is failed; an endpoint failing that long and more
    # is disabled.
    webhook_allow_private: bool = Field(False, alias="FLASHCALL_WEBHOOK_ALLOW_PRIVATE")
    webhook_retry_base_seconds: float = Field(
        5.0, alias="FLASHCALL_WEBHOOK_RETRY_BASE_SECONDS", gt=0
    )
    webhook_retry_hours: float = Field(24.0, alias="FLASHCALL_WEBHOOK_RETRY_HOURS", gt=0)
    webhook_disable_after_hours: float = Field(
        72.0, alias="FLASHCALL_WEBHOOK_DISABLE_AFTER_HOURS", gt=0
    )
    webhook_timeout_seconds: float = Field(10.0, alias="FLASHCALL_WEBHOOK_TIMEOUT_SECONDS", gt=0)
    panel_signin_attempts: int = Field(10, alias="FLASHCALL_PANEL_SIGNIN_ATTEMPTS", ge=1)
    data_dir: str = Field("var", alias="FLASHCALL_DATA_DIR")
    # `make run`'s processes of each kind (`api=2,decisions=2,dialer=2,projection=2,ingress=2`;
    # one of each kind not named): several APIs get HAProxy in front (launch/balancer.py).
    replicas: str = Field("", alias="FLASHCALL_REPLICAS")
    # Where the event schemas are read from (holding events/ and released/); by default the
    # ones this build carries. Tests that evolve the schemas point it at a changed copy.
    schema_dir: Path | None = Field(None, alias="FLASHCALL_SCHEMA_DIR")
    # What consumers do with a record no known schema can read: stop at it (the default: it
    # was written by a build that is newer, or broken) or park it in flashcall.dead-letters.
    park_undecodable: bool = Field(False, alias="FLASHCALL_PARK_UNDECODABLE")
    # A processor worker touches this file once it has its partitions (a readiness probe).
    ready_file: str | None = Field(None, alias="FLASHCALL_READY_FILE")
    # A call the projection should already have (it applied every request the broker's high
    # watermarks cover) is looked for this much longer before a 404: 0 on Apache Kafka; the
    # embedded broker answers ListOffsets wrongly (too low), and needs it.
    read_grace_ms: int = Field(0, alias="FLASHCALL_READ_GRACE_MS", ge=0, le=10_000)
    # A worker serves /metrics, /healthz and /readyz on this port (none if unset; the API
    # serves them on its own port).
    metrics_port: int | None = Field(None, alias="FLASHCALL_METRICS_PORT", ge=1, le=65535)
    # The address a worker's metrics listen on: loopback unless the operator opens it (a
    # container's metrics are scraped from outside it: compose sets 0.0.0.0).
    metrics_host: str = Field("127.0.0.1", alias="FLASHCALL_METRICS_HOST")
    # Peers whose X-Forwarded-For names the client (a load balancer in front of the API):
    # uvicorn's forwarded_allow_ips; the sign-in limits count attempts per client address.
    trusted_proxies: str = Field("127.0.0.1", alias="FLASHCALL_TRUSTED_PROXIES")
    # text for people (make run), json for log collectors (compose).
    log_format: Literal["text", "json"] = Field("text", alias="FLASHCALL_LOG_FORMAT")
    access_log: bool = Field(False, alias="FLASHCALL_ACCESS_LOG")

    @field_validator("number_pool")
    @classmethod
    def _pool_parses(cls, value: str) -> str:
        NumberPool.parse(value)
        return value

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            if self.admin_token == DEV_ADMIN_TOKEN or self.code_secret == DEV_CODE_SECRET:
                raise ValueError(
                    "set FLASHCALL_ADMIN_TOKEN and FLASHCALL_CODE_SECRET in production"
                )
            if self.ttl_minute_seconds != 60.0:
                raise ValueError("FLASHCALL_TTL_MINUTE_SECONDS is for tests only")
        if self.carrier == "sip":
            trunks = parse_trunks(self.sip_trunks)
            if not trunks:
                raise ValueError("FLASHCALL_CARRIER=sip needs FLASHCALL_SIP_TRUNKS")
            # A dial waits for its trunk's CPS, then may wait Timer B and ring: it must not be
            # taken for abandoned (and failed) meanwhile. The CPS is the platform's: with several
            # dialer workers the queue is theirs together (docs/telephony.md).
            longest = (
                self.dial_concurrency / (self.sip_cps * len(trunks))
                + 64 * self.sip_t1_ms / 1000 * 2
                + self.sip_ring_seconds
            )
            if self.dial_abandon_seconds <= longest:
                raise ValueError(
                    f"FLASHCALL_DIAL_ABANDON_SECONDS must exceed {longest:.0f} s with these SIP"
                    " limits and one dialer worker (a queued dial would be failed as abandoned)"
                )
        if self.sms_carrier == "kannel":
            if not self.kannel_sendsms_url:
                raise ValueError("FLASHCALL_SMS_CARRIER=kannel needs FLASHCALL_KANNEL_SENDSMS_URL")
            if not self.kannel_dlr_url and not self.metrics_port:
                raise ValueError(
                    "FLASHCALL_SMS_CARRIER=kannel needs FLASHCALL_METRICS_PORT (delivery reports"
                    " arrive there) or FLASHCALL_KANNEL_DLR_URL"
                )
            # Sent, unanswered, unconfirmed, sent again, reported.
            longest = (
                2 * self.kannel_send_timeout_seconds
                + KANNEL_CONFIRM_SECONDS
                + self.kannel_dlr_timeout_seconds
            )
            if self.dial_abandon_seconds <= longest:
                raise ValueError(
                    f"FLASHCALL_DIAL_ABANDON_SECONDS must exceed {longest:.0f} s with these"
                    " Kannel timeouts (an SMS awaiting its report would be failed as abandoned)"
                )
        if self.sim_dial_max_ms < self.sim_dial_min_ms:
            raise ValueError("FLASHCALL_SIM_DIAL_MAX_MS must be >= FLASHCALL_SIM_DIAL_MIN_MS")
        return self

    @model_validator(mode="after")
    def _range_rules(self) -> Settings:
        if self.range_release_at <= self.range_quarantine_below:
            raise ValueError(
                "FLASHCALL_RANGE_RELEASE_AT must exceed FLASHCALL_RANGE_QUARANTINE_BELOW"
                " (the gap between them keeps a range from flapping)"
            )
        parse_blocked_ranges(self.sim_blocked_ranges)
        return self

    @cached_property
    def range_rules(self) -> HealthRules:
        return HealthRules(
            window_seconds=self.range_window_seconds,
            min_sample=self.range_min_sample,
            quarantine_below=self.range_quarantine_below,
            release_at=self.range_release_at,
            baseline_floor=self.range_baseline_floor,
            quarantine_seconds=self.range_quarantine_seconds,
            max_quarantine_seconds=self.range_max_quarantine_seconds,
            probe_share=self.range_probe_share,
            probe_sample=self.range_probe_sample,
        )

    @cached_property
    def seeded_ranges(self) -> tuple[CallerRange, ...]:
        return seed_ranges(self.pool, self.number_pool)

    @cached_property
    def pool(self) -> NumberPool:
        """Parsed once: every call request draws from it."""
        return NumberPool.parse(self.number_pool)

    @property
    def roles(self) -> set[str]:
        return {r.strip() for r in self.processor_roles.split(",") if r.strip()}

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set (make run starts an embedded server)")
        return self.database_url

    def fetch_wait_ms(self, call_path: bool) -> int:
        """The fetch wait of a consumer on a call's path, or of one off it (by default the
        same)."""
        background = self.kafka_background_fetch_wait_ms
        return self.kafka_fetch_wait_ms if call_path or background is None else background

    def require_bootstrap(self) -> str:
        if not self.kafka_bootstrap_servers:
            raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set (make run starts a broker)")
        return self.kafka_bootstrap_servers


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
