from gridlink.runtime.migrations import run_env
from mediation.adapters.orm import metadata

run_env(metadata)
