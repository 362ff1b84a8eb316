"""console's settings: the shared ones, plus where dispatch's staff API answers (CONSOLE_DISPATCH_URL)."""

from gridlink.runtime.config import Settings, load_settings

DEFAULT_HTTP_PORT = 8006
DEFAULT_DISPATCH_URL = "http://127.0.0.1:8002"


def settings() -> Settings:
    return load_settings("console", DEFAULT_HTTP_PORT)


def dispatch_url(settings: Settings) -> str:
    """`CONSOLE_DISPATCH_URL`, read by load_settings into `extra` with every other CONSOLE_* variable."""
    return settings.extra.get("CONSOLE_DISPATCH_URL", DEFAULT_DISPATCH_URL).rstrip("/")
