"""Import a book of positions from a CSV file into a user's portfolio.

    cd backend
    uv run python scripts/import_positions.py examples/positions.csv --owner ann@example.com \\
        --new-portfolio "Core book"
    uv run python scripts/import_positions.py book.csv --owner ann@example.com \\
        --portfolio "Core book" --replace --as-of 2025-10-17 --dry-run

The same rules and answer as POST /api/v1/portfolios/{id}/positions/import (the CSV format
is in docs/book.md): every row is checked first, and one bad row writes nothing (each bad
row is printed with its line and field). ``--replace`` reads the file as the whole book on
``--as-of`` (default today): positions it leaves out are closed on that day. ``--dry-run``
shows what would be added, closed and left unchanged, and writes nothing (not even a
``--new-portfolio``). ``--json`` prints the result (or the error) as one JSON object.

Exit codes: 0 ok, 1 rejected rows or other data error (nothing written), 2 usage error
(a missing file, an unknown owner or portfolio, a name the owner uses already), 130
interrupted (nothing written).
"""

from __future__ import annotations

import app.core.interrupts  # noqa: F401  (first: Ctrl-C while the rest loads is one line)

# isort: split
import argparse
import asyncio
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cli import (
    EXIT_DATA_ERROR,
    EXIT_OK,
    EXIT_USAGE_ERROR,
    CommandError,
    iso_date,
    print_json,
    print_table,
    run_command,
)
from app.core.db import AsyncSessionLocal
from app.core.input_files import read_text
from app.portfolios import book, imports
from app.portfolios.rejections import ImportRejectedError
from app.portfolios.repository import find_portfolio
from app.portfolios.rules import PortfolioIn
from app.portfolios.schemas import ImportResult
from app.users.service import require_user


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="import_positions.py",
        description="Import positions from a CSV file into a user's portfolio (the rules "
        "and answer of the API's import).",
        epilog="Exit codes: 0 ok, 1 rejected rows (nothing written), 2 usage error (unknown "
        "owner or portfolio), 130 interrupted.",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="the CSV file (docs/book.md)")
    parser.add_argument("--owner", required=True, metavar="EMAIL", help="the portfolio's owner")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--portfolio", metavar="NAME_OR_ID", help="an existing portfolio")
    target.add_argument("--new-portfolio", metavar="NAME", help="create a portfolio first")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="the file is the whole book on --as-of: close the positions it leaves out",
    )
    parser.add_argument(
        "--as-of", type=iso_date, metavar="YYYY-MM-DD", help="the book's date (default today)"
    )
    parser.add_argument("--dry-run", action="store_true", help="check and show, write nothing")
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON object on stdout"
    )
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Imported:
    portfolio_id: uuid.UUID
    portfolio_name: str
    result: ImportResult


async def _import(args: argparse.Namespace, data: str) -> Imported:
    async with AsyncSessionLocal() as session, session.begin():
        imported = await _into_portfolio(session, args, data)
        if args.dry_run:
            await session.rollback()  # not even a --new-portfolio
        return imported


async def _into_portfolio(session: AsyncSession, args: argparse.Namespace, data: str) -> Imported:
    owner = await require_user(session, args.owner)
    if args.new_portfolio is not None:
        try:
            new = PortfolioIn(name=args.new_portfolio)
        except ValueError as exc:
            raise CommandError(EXIT_USAGE_ERROR, f"--new-portfolio: {exc}") from None
        portfolio = (await book.create_portfolio(session, owner.id, new)).portfolio
    else:
        portfolio = await find_portfolio(session, args.portfolio, owner=owner.id)
    outcome = await imports.import_book(
        session,
        portfolio.id,
        data,
        owner=owner.id,
        mode="replace" if args.replace else "append",
        as_of=args.as_of,
        dry_run=args.dry_run,
    )
    return Imported(portfolio.id, portfolio.name, imports.import_result(outcome))


def _table(title: str, lines: list[Any]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    for column in ("Line", "Symbol", "Type", "Quantity", "Entry date", "Data"):
        table.add_column(column, justify="right" if column in ("Line", "Quantity") else "left")
    for line in lines:
        table.add_row(
            "-" if line.line is None else str(line.line),
            line.symbol,
            line.position_type,
            format(line.quantity.normalize(), "f"),
            line.entry_date.isoformat(),
            line.data_status or "",
        )
    return table


def _report(imported: Imported, out: Console, *, json_out: bool) -> int:
    result = imported.result
    if json_out:
        payload = result.model_dump(mode="json")
        print_json(
            out,
            {
                "status": "ok",
                "exit_code": EXIT_OK,
                "portfolio_id": imported.portfolio_id,
                "portfolio_name": imported.portfolio_name,
                **payload,
            },
        )
        return EXIT_OK
    for title, lines in (
        ("Added", result.added),
        ("Closed", result.closed),
        ("Unchanged", result.unchanged),
    ):
        if lines:
            print_table(out, _table(title, lines))
    verb = "would be" if result.dry_run else "were"
    out.print(
        f"{escape(imported.portfolio_name)} ({imported.portfolio_id}), {result.mode} as of "
        f"{result.as_of}: {len(result.added)} added, {len(result.closed)} closed, "
        f"{len(result.unchanged)} unchanged positions {verb} written"
        + (" (dry run: nothing written)" if result.dry_run else ""),
        highlight=False,
        soft_wrap=True,
    )
    if result.data_hint:
        out.print(escape(result.data_hint), highlight=False, soft_wrap=True)
    return EXIT_OK


def _rejected(exc: ImportRejectedError, out: Console, err: Console, *, json_out: bool) -> int:
    rows = [{"line": r.line, "field": r.field, "message": r.message} for r in exc.rejected]
    for row in rows:
        where = ", ".join(
            part
            for part in (
                f"line {row['line']}" if row["line"] else "",
                f"field {row['field']}" if row["field"] else "",
            )
            if part
        )
        err.print(f"[red]rejected[/] {escape(where or 'file')}: {escape(str(row['message']))}")
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
    if json_out:
        print_json(
            out,
            {"status": "error", "exit_code": EXIT_DATA_ERROR, "error": str(exc), "rejected": rows},
        )
    return EXIT_DATA_ERROR


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out, err = Console(soft_wrap=True), Console(stderr=True, soft_wrap=True)

    def body() -> int:
        data = read_text(args.file)  # a missing file is a usage error, before any query
        try:
            imported = asyncio.run(_import(args, data))
        except ImportRejectedError as exc:
            return _rejected(exc, out, err, json_out=args.json)
        return _report(imported, out, json_out=args.json)

    return run_command(
        body,
        err=err,
        interrupted="interrupted: nothing written",
        json_out=out if args.json else None,
    )


if __name__ == "__main__":
    sys.exit(main())
