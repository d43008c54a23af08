"""All models, imported here so Base.metadata is complete for Alembic."""

from app.models.base import Base
from app.models.market_data import BenchmarkSectorWeight, PositionMarketBeta, PositionVolatility
from app.models.portfolio import Portfolio, Position
from app.models.snapshot import PortfolioSnapshot

__all__ = [
    "Base",
    "BenchmarkSectorWeight",
    "Portfolio",
    "PortfolioSnapshot",
    "Position",
    "PositionMarketBeta",
    "PositionVolatility",
]
