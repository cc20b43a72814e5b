"""Names shared by the config models of the station and of its parts (the uplink)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

SLUG_PATTERN = r"^[a-z][a-z0-9-]*$"
Slug = Annotated[str, Field(pattern=SLUG_PATTERN, min_length=1, max_length=48)]
"""Identifiers of lines, stations and operations: lower case, digits, dashes."""
