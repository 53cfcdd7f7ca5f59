"""``lakesmith ingest`` (a process that exits after its files) lets Arrow allocate from
glibc's malloc and keeps freed memory for the next batch, instead of mimalloc handing it
back and faulting it in again; long-running processes keep the default pool."""

from __future__ import annotations

import os
import subprocess
import sys

CHECK = """
import pyarrow as pa
before = pa.default_memory_pool().backend_name
from lakesmith.pipeline.ingest import reuse_memory
reuse_memory()
print(before, pa.default_memory_pool().backend_name)
"""


def test_reuse_memory_switches_arrow_to_the_system_allocator() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, env=env
    )
    before, after = out.stdout.split()
    assert after == "system"
    assert before != "system"  # (the default pool of the wheel: mimalloc or jemalloc)
