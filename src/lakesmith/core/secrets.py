"""Secrets generated into the state dir (never hard-coded defaults)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def get_or_create_secret(state_dir: Path, name: str) -> str:
    """Return the secret ``name`` stored under ``state_dir/secrets``, creating it once.

    The file is created with mode 0600 so only the owner can read it.
    """
    path = state_dir / "secrets" / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
