"""Sampling profiles of every process during a benchmark step (`python -m bench.run --profile`), with py-spy.

py-spy samples each process from outside (no code change, no restart) and writes collapsed stacks; `summarise`
turns them into the shares the optimisation notes in docs/performance.md quote: per process, the frames holding
the most samples, inclusive (the frame or anything it called) and exclusive (the frame itself), with the hub's idle
wait left out so the shares are of the CPU actually spent.

    .venv/bin/python -m bench.profile var/bench/profiles/<run>/notification-10.txt   # summarise one file again

py-spy samples wall time: a frame that calls into C holding the GIL is charged while the process waits for a CPU
too. psycopg2's green path sends each statement that way, so much of `LeanSession._direct`'s exclusive share is the
wait after waking PostgreSQL, not the process's own CPU (docs/performance.md, thirteenth round); the drains' /proc
figures are the CPU.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# Frames where a process waits rather than works: the eventlet hub's poll, and threads parked on a lock.
IDLE_FRAMES = (
    "do_poll (",
    "epoll.poll",
    "poll (selectors",
    "wait (eventlet/hubs",
    "wait (threading.py)",
    "select (selectors",
)


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def start(pids: dict[str, int], seconds: float, out_dir: Path, tag: str) -> list[subprocess.Popen]:
    """Start one py-spy per process, each recording `seconds` of samples into `<name>-<tag>.txt`."""
    binary = py_spy()
    if binary is None:
        print("py-spy not found; no profiles taken", file=sys.stderr)
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    options = ["-d", str(max(1, int(seconds))), "-r", "100", "-f", "raw", "--nonblocking", "--gil"]
    return [
        subprocess.Popen(
            [binary, "record", "-p", str(pid), *options, "-o", str(out_dir / f"{name}-{tag}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]


def finish(recorders: list[subprocess.Popen], timeout: float = 60) -> None:
    for recorder in recorders:
        try:
            recorder.wait(timeout)
        except subprocess.TimeoutExpired:
            recorder.kill()


def _frame(frame: str) -> str:
    """`name (path/to/module.py:123)` → `name (module.py)`: lines vary within a function, the function does not."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = path.split("/")
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{name} ({short})"


def summarise(path: Path, top: int = 15) -> dict:
    """Inclusive and exclusive shares of the busy samples in one collapsed-stack file."""
    inclusive: Counter[str] = Counter()
    exclusive: Counter[str] = Counter()
    busy = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if any(marker in frames[-1] for marker in IDLE_FRAMES):
            idle += int(count)
            continue
        n = int(count)
        busy += n
        exclusive[_frame(frames[-1])] += n
        for name in {_frame(f) for f in frames}:
            inclusive[name] += n
    share = lambda c: [(name, round(100 * n / busy, 1)) for name, n in c.most_common(top)] if busy else []  # noqa: E731
    return {"busy_samples": busy, "idle_samples": idle, "inclusive": share(inclusive), "exclusive": share(exclusive)}


def print_summary(path: Path, top: int = 15) -> None:
    summary = summarise(path, top)
    print(f"{path.name}: {summary['busy_samples']} busy samples ({summary['idle_samples']} idle)")
    for kind in ("inclusive", "exclusive"):
        print(f"  {kind}:")
        for name, pct in summary[kind]:
            print(f"    {pct:5.1f} %  {name}")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print_summary(Path(arg), top=25)
