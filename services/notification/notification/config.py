"""notification's settings: the shared ones, plus its channels and providers, read from the environment.

Every variable has a local default. Out of the box the inbox, email (SMTP to a local debugging server on
127.0.0.1:1025) and a file channel deliver for real; SMS, WeChat, WeCom, push and webhooks are switched on by
adding them to NOTIFICATION_CHANNELS and giving their providers' URLs and credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gridlink.runtime.config import REPO_ROOT, ConfigError, Settings, load_settings

DEFAULT_HTTP_PORT = 8005
DEFAULT_CHANNELS = "inbox,email,file"
# The platform's name as residents see it: the SMS signature's default and a WeChat template's sender.
PLATFORM_NAME = "网格通"
SMS_PROVIDERS = ("aliyun", "tencent")


def settings() -> Settings:
    return load_settings("notification", DEFAULT_HTTP_PORT)


@dataclass(frozen=True)
class ChannelConfig:
    channels: tuple[str, ...]
    sms_providers: tuple[str, ...]
    http_timeout: float
    smtp: dict[str, str]
    file_path: str
    providers: dict[str, dict[str, str]] = field(default_factory=dict)  # provider code -> its settings
    webhook_secret: str = ""
    receipt_token: str = ""


# What a WeChat template's keywords may be filled with. Templates made since May 2023 name their own keywords
# (thing1, time2…) and WeChat no longer shows `first` or `remark`; the default keeps the older layout.
WECHAT_PARTS = ("title", "body", "time", "sender")
DEFAULT_WECHAT_FIELDS = "first=title,keyword1=body,remark=sender"


def wechat_fields(raw: str) -> tuple[tuple[str, str], ...]:
    """`keyword=part,…` (NOTIFICATION_WECHAT_FIELDS) as pairs, refusing what WeChat or the platform cannot fill."""
    pairs = []
    for item in (i.strip() for i in raw.split(",") if i.strip()):
        keyword, _, part = (x.strip() for x in item.partition("="))
        if not keyword or not part:
            raise ConfigError(f"NOTIFICATION_WECHAT_FIELDS: {item!r} is not keyword=part")
        if part not in WECHAT_PARTS:
            raise ConfigError(
                f"NOTIFICATION_WECHAT_FIELDS: {keyword}={part}: the part is one of {', '.join(WECHAT_PARTS)}"
            )
        pairs.append((keyword, part))
    if not pairs:
        raise ConfigError("NOTIFICATION_WECHAT_FIELDS names no keyword")
    return tuple(pairs)


def channel_config(settings: Settings) -> ChannelConfig:
    return parse_channel_config(settings.extra)


def parse_channel_config(env: Mapping[str, str]) -> ChannelConfig:
    def get(name: str, default: str = "") -> str:
        return env.get(f"NOTIFICATION_{name}", default)

    channels = tuple(c.strip() for c in get("CHANNELS", DEFAULT_CHANNELS).split(",") if c.strip())
    if "inbox" not in channels:
        raise ConfigError("NOTIFICATION_CHANNELS must include inbox: it is the record every person can read")
    sms = tuple(p.strip() for p in get("SMS_PROVIDERS", ",".join(SMS_PROVIDERS)).split(",") if p.strip())
    if set(sms) - set(SMS_PROVIDERS):
        raise ConfigError(f"NOTIFICATION_SMS_PROVIDERS: each one of {', '.join(SMS_PROVIDERS)}")
    try:
        timeout = float(get("HTTP_TIMEOUT", "5"))
    except ValueError:
        raise ConfigError("NOTIFICATION_HTTP_TIMEOUT must be seconds") from None
    smtp_connections = get("SMTP_CONNECTIONS") or "4"
    if not smtp_connections.isdigit() or int(smtp_connections) < 1:
        raise ConfigError(
            f"NOTIFICATION_SMTP_CONNECTIONS must be a whole number of at least 1, not {smtp_connections!r}"
        )
    providers = {
        "sms_aliyun": {
            "url": get("SMS_ALIYUN_URL", "https://dysmsapi.aliyuncs.com/"),
            "access_key_id": get("SMS_ALIYUN_ACCESS_KEY_ID"),
            "access_key_secret": get("SMS_ALIYUN_ACCESS_KEY_SECRET"),
            "sign_name": get("SMS_ALIYUN_SIGN_NAME", PLATFORM_NAME),
            "template_code": get("SMS_ALIYUN_TEMPLATE_CODE", "SMS_GRIDLINK_NOTICE"),
        },
        "sms_tencent": {
            "url": get("SMS_TENCENT_URL", "https://sms.tencentcloudapi.com/"),
            "secret_id": get("SMS_TENCENT_SECRET_ID"),
            "secret_key": get("SMS_TENCENT_SECRET_KEY"),
            "app_id": get("SMS_TENCENT_APP_ID"),
            "sign_name": get("SMS_TENCENT_SIGN_NAME", PLATFORM_NAME),
            "template_id": get("SMS_TENCENT_TEMPLATE_ID", "GRIDLINK_NOTICE"),
            "region": get("SMS_TENCENT_REGION", "ap-guangzhou"),
        },
        "wechat": {
            "url": get("WECHAT_URL", "https://api.weixin.qq.com"),
            "app_id": get("WECHAT_APP_ID"),
            "app_secret": get("WECHAT_APP_SECRET"),
            "template_id": get("WECHAT_TEMPLATE_ID"),
            "fields": get("WECHAT_FIELDS", DEFAULT_WECHAT_FIELDS),
        },
        "wecom": {"url": get("WECOM_WEBHOOK_URL")},
        "push": {
            "url": get("PUSH_URL", "https://api.jpush.cn/v3/push"),
            "app_key": get("PUSH_APP_KEY"),
            "master_secret": get("PUSH_MASTER_SECRET"),
        },
    }
    config = ChannelConfig(
        channels=channels,
        sms_providers=sms,
        http_timeout=timeout,
        smtp={
            "host": get("SMTP_HOST", "127.0.0.1"),
            "port": get("SMTP_PORT", "1025"),
            "sender": get("SMTP_FROM", "网格通 <noreply@gridlink.local>"),
            "user": get("SMTP_USER"),
            "password": get("SMTP_PASSWORD"),
            "starttls": get("SMTP_STARTTLS", "false"),
            "connections": smtp_connections,
        },
        file_path=get("FILE_PATH", str(REPO_ROOT / "var" / "notifications.jsonl")),
        providers=providers,
        webhook_secret=get("WEBHOOK_SECRET", "gridlink-local-webhook-secret-change-me"),
        receipt_token=get("RECEIPT_TOKEN", "gridlink-local-receipt-token-change-me"),
    )
    _require_credentials(config)
    if "wechat" in channels:
        wechat_fields(config.providers["wechat"]["fields"])  # refused at start, not at the first message
    return config


def _require_credentials(config: ChannelConfig) -> None:
    """A switched-on commercial channel without its credentials is a deployment mistake: say so at start."""
    needed = {
        "wechat": [("wechat", "app_id"), ("wechat", "app_secret"), ("wechat", "template_id")],
        "wecom": [("wecom", "url")],
        "push": [("push", "app_key"), ("push", "master_secret")],
        "sms": [(f"sms_{p}", k) for p in config.sms_providers for k in _SMS_KEYS[p]],
    }
    for channel, keys in needed.items():
        if channel in config.channels:
            missing = [f"{p}.{k}" for p, k in keys if not config.providers[p][k]]
            if missing:
                raise ConfigError(f"channel {channel} is on but these settings are empty: {', '.join(missing)}")


_SMS_KEYS = {"aliyun": ("access_key_id", "access_key_secret"), "tencent": ("secret_id", "secret_key", "app_id")}
