"""All routes: /health at the root, the data API versioned under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.responses import INVALID_INPUT, SERVER_ERROR
from app.api.routes import benchmarks, health, portfolios, positions

API_V1_PREFIX = "/api/v1"

api_v1 = APIRouter(prefix=API_V1_PREFIX, responses=INVALID_INPUT | SERVER_ERROR)
api_v1.include_router(benchmarks.router)
api_v1.include_router(portfolios.router)
api_v1.include_router(positions.router)

router = APIRouter()
router.include_router(health.router)
router.include_router(api_v1)
