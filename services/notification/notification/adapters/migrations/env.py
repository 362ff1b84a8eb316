from gridlink.runtime.migrations import run_env
from notification.adapters.orm import metadata

run_env(metadata)
