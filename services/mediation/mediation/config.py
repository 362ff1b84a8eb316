"""mediation's settings: the shared ones, read from the environment with local defaults."""

from gridlink.runtime.config import Settings, load_settings

DEFAULT_HTTP_PORT = 8003


def settings() -> Settings:
    return load_settings("mediation", DEFAULT_HTTP_PORT)
