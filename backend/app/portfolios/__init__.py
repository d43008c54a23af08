"""Portfolios and their positions: who may see them, and what a book holds on a day."""
