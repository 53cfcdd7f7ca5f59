"""The bad telemetry the simulator injects, and the rule each one must be quarantined by.

Each kind breaks exactly one thing, so a test can assert that the pipeline reports that
one rule id and nothing else: a ``wrong_type`` message still has a valid device id,
timestamp and firmware. Every message (except ``duplicate``, which is a byte-for-byte
re-send by definition) carries its device and stream sequence number (``sim_seq``), so
no two bad messages are equal and a quarantined record can be traced back to the exact
message that produced it. ``sim_seq`` is not a contract field; the pipeline ignores it.

Bad messages are rare, so they are built with ``json.dumps`` for clarity, not speed;
its default separators match the hand-formatted valid messages, and it writes the
non-standard ``NaN`` token that real firmware emits.
"""

from __future__ import annotations

import json
import math
from typing import Any

# kind → the outcome the pipeline must report (a rule id of the contract / decoder).
EXPECTED: dict[str, str] = {
    "malformed_json": "invalid_json",
    "missing_device_id": "device_id_required",
    "missing_timestamp": "timestamp_required",
    "wrong_type": "temperature_type",
    "out_of_range": "temperature_range",  # cycles: see BadRecords.make
    "nan": "temperature_not_finite",
    "bad_timestamp": "timestamp_type",
    "far_future": "timestamp_window",
    "oversized": "payload_too_large",
    "duplicate": "duplicate",
}
KINDS: tuple[str, ...] = tuple(EXPECTED)

OVERSIZED_PADDING = 6000  # the telemetry contract rejects payloads over 4096 bytes

_OUT_OF_RANGE = (("temperature", 150.0), ("humidity", 140.0), ("pressure", 50.0))


class BadRecords:
    """Builds bad messages; keeps the counters that make the variants cycle evenly."""

    def __init__(self) -> None:
        self._out_of_range = 0
        self._bad_timestamp = 0

    def make(
        self,
        kind: str,
        seq: int,
        device: str,
        ts: str,
        values: dict[str, Any],
    ) -> tuple[bytes, str]:
        """``(payload, expected rule)`` for ``kind``; ``values`` holds valid readings.

        ``values`` are the readings the device would have sent in this slot
        (temperature, humidity, firmware_version and, for v2, pressure), so everything
        but the one broken part is realistic and valid. ``duplicate`` is not built here:
        it is a re-send of earlier bytes, which only the generator has.
        """
        rec: dict[str, Any] = {"device_id": device, "timestamp": ts, **values, "sim_seq": seq}
        expected = EXPECTED[kind]
        if kind == "malformed_json":
            # Cut off inside the timestamp: what a half-written buffer looks like.
            head = f'{{"device_id": "{device}", "sim_seq": {seq}, "timestamp": "{ts[:5]}'
            return head.encode(), expected
        if kind == "missing_device_id":
            del rec["device_id"]
        elif kind == "missing_timestamp":
            del rec["timestamp"]
        elif kind == "wrong_type":
            rec["temperature"] = "hot"
        elif kind == "out_of_range":
            # Pressure exists only in v2 payloads: cycle over the fields this one has.
            choices = [c for c in _OUT_OF_RANGE if c[0] in rec]
            field, value = choices[self._out_of_range % len(choices)]
            self._out_of_range += 1
            rec[field] = value
            expected = f"{field}_range"
        elif kind == "nan":
            rec["temperature"] = math.nan
        elif kind == "bad_timestamp":
            # No zone is as wrong as prose: event time would depend on the reader's zone.
            no_zone = f"{ts[:10]} {ts[11:19]}"
            rec["timestamp"] = "yesterday at noon" if self._bad_timestamp % 2 == 0 else no_zone
            self._bad_timestamp += 1
        elif kind == "far_future":
            # Not just the year: 2100 is no leap year, so 29 February would be invalid.
            rec["timestamp"] = "2100-01-01" + ts[10:]
        elif kind == "oversized":
            rec["debug"] = "x" * OVERSIZED_PADDING
        else:
            raise ValueError(f"unknown bad record kind {kind!r}")
        return json.dumps(rec).encode(), expected
