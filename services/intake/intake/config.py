"""intake's settings: the shared ones, read from the environment with local defaults."""

from gridlink.runtime.config import ConfigError, Settings, load_settings

DEFAULT_HTTP_PORT = 8001


# Reporters' names and contacts are erased this many days after their case closes (INTAKE_RETENTION_DAYS).
DEFAULT_RETENTION_DAYS = 180


def settings() -> Settings:
    return load_settings("intake", DEFAULT_HTTP_PORT)


def retention_days(settings: Settings) -> int:
    raw = settings.extra.get("INTAKE_RETENTION_DAYS", str(DEFAULT_RETENTION_DAYS))
    try:
        days = int(raw)
    except ValueError:
        raise ConfigError(f"INTAKE_RETENTION_DAYS={raw!r} is not a whole number of days") from None
    if days < 0:
        raise ConfigError("INTAKE_RETENTION_DAYS must not be negative")
    return days
