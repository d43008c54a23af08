"""All models, imported here so Base.metadata is complete for Alembic."""

from app.models.base import Base
from app.models.factor_exposure import PortfolioFactorExposure, PositionFactorExposure
from app.models.idempotency import IdempotencyKey
from app.models.market_data import BenchmarkSectorWeight, PositionMarketBeta, PositionVolatility
from app.models.portfolio import Portfolio, Position
from app.models.reference_data import CorporateAction, DailyPrice, SecurityProfile
from app.models.sign_in import SignInFailure
from app.models.snapshot import PortfolioSnapshot
from app.models.user import User

__all__ = [
    "Base",
    "BenchmarkSectorWeight",
    "CorporateAction",
    "DailyPrice",
    "IdempotencyKey",
    "Portfolio",
    "PortfolioFactorExposure",
    "PortfolioSnapshot",
    "Position",
    "PositionFactorExposure",
    "PositionMarketBeta",
    "PositionVolatility",
    "SecurityProfile",
    "SignInFailure",
    "User",
]
