"""A settled heap: what lives at the start is out of the collector's walk, and garbage made later is still
collected. Run in a fresh interpreter, as a service process runs it, so the test runner's own heap is not frozen."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json, weakref, sqlalchemy, kombu, marshmallow
import nameko.containers
from gridlink.runtime import heap

walked_before = len(gc.get_objects())
frozen = heap.settle()
walked_after = len(gc.get_objects())

class Node:  # one end of a reference cycle
    __slots__ = ("other", "__weakref__")

refs = []
for _ in range(1000):  # cycles made after the settle: garbage the collector must still find
    a, b = Node(), Node()
    a.other, b.other = b, a
    refs.append(weakref.ref(a))
    del a, b
gc.collect()
alive = sum(ref() is not None for ref in refs)
print(json.dumps({"before": walked_before, "frozen": frozen, "after": walked_after, "alive": alive}))
"""


def test_settle_freezes_what_lives_and_later_garbage_is_still_collected():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60)
    seen = json.loads(out.stdout)
    assert seen["frozen"] >= seen["before"] // 2  # the libraries' objects are frozen...
    assert seen["after"] < seen["before"] // 10  # ...so a full collection no longer walks them
    assert seen["alive"] == 0  # while the cycles made afterwards are collected as before
