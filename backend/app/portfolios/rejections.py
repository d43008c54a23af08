"""What a refused book change says: each refused value (Rejection) and the errors that
carry them, for a JSON body (BookRuleError), a file (ImportRejectedError) and the size
limit (BookLimitError). The rules themselves: app.portfolios.rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.core.errors import InputDataError


@dataclass(frozen=True)
class Rejection:
    """A value refused: where (a file's line, or None for a JSON body), which field (None
    for the whole row or file) and why."""

    line: int | None
    field: str | None
    message: str


def rejections_of(error: ValidationError, line: int | None) -> list[Rejection]:
    """Each error of ``error`` as a Rejection of ``line``, naming its field."""
    found = []
    for detail in error.errors(include_url=False):
        loc = detail.get("loc", ())
        field = str(loc[0]) if loc else None
        found.append(Rejection(line, field, str(detail.get("msg", "invalid value"))))
    return found


class BookRuleError(InputDataError):
    """A position or portfolio sent as JSON (or a query parameter: ``part``) breaks a rule
    the request's own validation could not see (no close for a default entry price, a
    change that makes the position invalid): answered as the API answers a malformed
    request, each problem by field."""

    def __init__(self, problems: list[Rejection], *, part: str = "body") -> None:
        self.problems, self.part = problems, part
        shown_problems = "; ".join(f"{self._where(p)}: {p.message}" for p in problems[:3])
        super().__init__(f"Invalid request: {shown_problems}")

    def _where(self, problem: Rejection) -> str:
        return f"{self.part}.{problem.field}" if problem.field else self.part

    def http_details(self) -> Mapping[str, Any]:
        return {
            "errors": [{"location": self._where(p), "message": p.message} for p in self.problems]
        }


class ImportRejectedError(InputDataError):
    """Rows of a file break the rules: nothing is written, and every problem is listed."""

    def __init__(self, rejected: list[Rejection]) -> None:
        self.rejected = sorted(rejected, key=lambda r: (r.line or 0, r.field or ""))
        if len(rejected) == 1 and rejected[0].field is None:  # the file, or its one row
            message = f"{rejected[0].message}; nothing written"
        else:
            rows = len({r.line for r in rejected})
            message = f"{rows} row{'s' if rows != 1 else ''} rejected, nothing written"
        super().__init__(message)

    def http_details(self) -> Mapping[str, Any]:
        return {
            "rejected": [
                {"line": r.line, "field": r.field, "message": r.message} for r in self.rejected
            ]
        }


class BookLimitError(InputDataError):
    """The portfolio would hold more open positions than
    :data:`app.portfolios.rules.MAX_POSITIONS`."""
