"""The ``s3`` source kind (reader under construction)."""

from __future__ import annotations

from lakesmith.sources.objects_spec import ObjectSourceSpec

SPEC = ObjectSourceSpec
