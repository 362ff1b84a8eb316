from gridlink.runtime.migrations import run_env
from volunteer.adapters.orm import metadata

run_env(metadata)
