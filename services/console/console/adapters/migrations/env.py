from console.adapters.orm import metadata
from gridlink.runtime.migrations import run_env

run_env(metadata)
