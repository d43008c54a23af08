"""Labels the formulas store, without numpy: the models' CHECK constraints name them, and
importing the models (Alembic, the API's schemas) should not load the numeric stack."""

from __future__ import annotations

TRENDS = ("increasing", "decreasing", "stable")
"""Volatility trend labels (the rule: app.formulas.volatility); a trend is stored as one."""

ESTIMATORS = ("OLS", "RIDGE")
"""How a factor regression was estimated: plain OLS, or a ridge where the factors were
nearly collinear (app.formulas.factors)."""
