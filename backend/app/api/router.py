"""All routes: /health at the root, the data API versioned under /api/v1.

Each domain package owns its routes; this module only wires them together.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api import health
from app.api.deps import require_schema_at_head
from app.api.responses import INVALID_INPUT, SERVER_ERROR
from app.benchmarks import routes as benchmark_routes
from app.correlations import routes as correlation_routes
from app.factors import routes as factor_routes
from app.portfolios import book_routes
from app.portfolios import routes as portfolio_routes
from app.risk_metrics import routes as risk_routes
from app.stress import routes as stress_routes
from app.users import routes as user_routes

API_V1_PREFIX = "/api/v1"

api_v1 = APIRouter(
    prefix=API_V1_PREFIX,
    responses=INVALID_INPUT | SERVER_ERROR,
    dependencies=[Depends(require_schema_at_head)],
)
api_v1.include_router(user_routes.router)
api_v1.include_router(benchmark_routes.router)
api_v1.include_router(portfolio_routes.router)
api_v1.include_router(book_routes.router)
api_v1.include_router(book_routes.position_router)
api_v1.include_router(risk_routes.portfolio_router)
api_v1.include_router(risk_routes.position_router)
api_v1.include_router(factor_routes.router)
api_v1.include_router(stress_routes.router)
api_v1.include_router(correlation_routes.router)

router = APIRouter()
router.include_router(health.router)
router.include_router(api_v1)
