"""Field types shared by the response models.

Decimals travel as JSON strings in plain (never exponent) notation, e.g. ``"0.280000"``:
the stored NUMERIC value exactly, with its scale, and no binary-float rounding on the
way. Clients that want numbers parse them (``Decimal(s)`` or ``float(s)``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema

DecimalString = Annotated[
    Decimal,
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "format": "decimal", "examples": ["0.280000"]},
        mode="serialization",
    ),
]
"""A NUMERIC column value, serialised as an exact decimal string."""
