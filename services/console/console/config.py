"""console's settings: the shared ones, plus where the staff APIs it calls answer (CONSOLE_DISPATCH_URL,
CONSOLE_NOTIFICATION_URL)."""

from gridlink.runtime.config import Settings, load_settings

DEFAULT_HTTP_PORT = 8006
DEFAULT_DISPATCH_URL = "http://127.0.0.1:8002"
DEFAULT_NOTIFICATION_URL = "http://127.0.0.1:8005"


def settings() -> Settings:
    return load_settings("console", DEFAULT_HTTP_PORT)


def dispatch_url(settings: Settings) -> str:
    """`CONSOLE_DISPATCH_URL`, read by load_settings into `extra` with every other CONSOLE_* variable."""
    return settings.extra.get("CONSOLE_DISPATCH_URL", DEFAULT_DISPATCH_URL).rstrip("/")


def notification_url(settings: Settings) -> str:
    """`CONSOLE_NOTIFICATION_URL`: where the case view reads a case's messages."""
    return settings.extra.get("CONSOLE_NOTIFICATION_URL", DEFAULT_NOTIFICATION_URL).rstrip("/")
