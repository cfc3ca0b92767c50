"""intake-chat settings (environment prefix ``INTAKE_CHAT_``)."""

from __future__ import annotations

from functools import partial

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.channel_settings import optional_settings
from switchboard_common.settings import ConsumerSettings, ServiceSettings
from switchboard_intake_chat.providers.line import LineSettings
from switchboard_intake_chat.providers.meta import MetaSettings
from switchboard_intake_chat.providers.slack import SlackSettings
from switchboard_intake_chat.providers.telegram import TelegramSettings
from switchboard_intake_chat.providers.wechat import WeChatSettings, WeComSettings


class WebChatSettings(BaseSettings):
    """The web chat: sessions, limits, the page. Environment prefix ``WEBCHAT_``."""

    model_config = SettingsConfigDict(env_prefix="WEBCHAT_", extra="ignore", env_file=".env")

    session_secret: SecretStr = Field(
        description="Signs chat session tokens so that a client can only resume its own conversation. Required."
    )
    channel_account: str = Field(default="webchat:default", description="Names this chat entry point in events.")
    max_frame_bytes: int = Field(default=16_384, ge=256, description="Largest message (WebSocket frame or HTTP body).")
    max_text_chars: int = Field(default=4_000, ge=1)
    rate_per_second: float = Field(default=2.0, gt=0, description="Sustained messages per second per session.")
    rate_burst: int = Field(default=10, ge=1, description="Messages a session may send at once before throttling.")
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to open the WebSocket and call the HTTP API from a browser; empty: same origin.",
    )
    replay_limit: int = Field(
        default=200, ge=1, description="Most outbound messages replayed to a reconnecting client."
    )
    replay_window_seconds: int = Field(
        default=3600, ge=1, description="How far back a reconnecting client's missed messages are looked for."
    )
    session_ttl_days: int = Field(default=30, ge=1)


class IntakeChatSettings(ServiceSettings):
    """Everything intake-chat reads from the environment.

    Each provider is off (None: its routes answer 404) unless its credentials are set
    (:func:`~switchboard_common.channel_settings.optional_settings`).
    """

    model_config = SettingsConfigDict(
        env_prefix="INTAKE_CHAT_", extra="ignore", env_file=".env", env_nested_delimiter="__"
    )

    webchat: WebChatSettings = Field(default_factory=WebChatSettings)
    consumer: ConsumerSettings = Field(
        default_factory=ConsumerSettings,
        description="Only its fetch batching applies: the tail of chat.outbound.v1 (CONSUMER_FETCH_MIN_BYTES, "
        "CONSUMER_FETCH_MAX_WAIT_MS).",
    )
    slack: SlackSettings | None = Field(
        default_factory=partial(optional_settings, SlackSettings, "slack"),
        description="Off without SLACK_SIGNING_SECRET.",
    )
    meta: MetaSettings | None = Field(
        default_factory=partial(optional_settings, MetaSettings, "meta"),
        description="WhatsApp and Messenger; off without META_APP_SECRET and META_VERIFY_TOKEN.",
    )
    telegram: TelegramSettings | None = Field(
        default_factory=partial(optional_settings, TelegramSettings, "telegram"),
        description="Off without TELEGRAM_SECRET_TOKEN.",
    )
    wechat: WeChatSettings | None = Field(
        default_factory=partial(optional_settings, WeChatSettings, "wechat"), description="Off without WECHAT_TOKEN."
    )
    wecom: WeComSettings | None = Field(
        default_factory=partial(optional_settings, WeComSettings, "wecom"), description="Off without WECOM_TOKEN."
    )
    line: LineSettings | None = Field(
        default_factory=partial(optional_settings, LineSettings, "line"), description="Off without LINE_CHANNEL_SECRET."
    )
