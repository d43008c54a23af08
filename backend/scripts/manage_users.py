"""Manage the accounts that sign in to the API, and who owns which portfolio.

    cd backend
    uv run python scripts/manage_users.py create ann@example.com      # prints a password once
    uv run python scripts/manage_users.py create ann@example.com --password-stdin < pw.txt
    uv run python scripts/manage_users.py set-password ann@example.com --password-stdin
    uv run python scripts/manage_users.py disable ann@example.com     # her tokens stop working
    uv run python scripts/manage_users.py enable ann@example.com      # old tokens stay ended
    uv run python scripts/manage_users.py revoke ann@example.com      # sign her out everywhere
    uv run python scripts/manage_users.py assign ann@example.com PORTFOLIO_UUID...
    uv run python scripts/manage_users.py list

An operator tool run with database access: it needs no token and no AUTH_SECRET_KEY.
Passwords are read from one line of standard input (never from an argument, which other
users of the machine could see), as UTF-8 text, or generated and printed once; they are
stored only as argon2 hashes. A new password, disabling and revoke end every token the user
was issued before. Exit codes: 0 ok, 1 data error (e.g. the email exists already), 2 usage
or configuration error (e.g. no such user, a password too short or not UTF-8 text).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import TextIO

from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cli import EXIT_OK, EXIT_USAGE_ERROR, CommandError, run_command, uuid_arg
from app.core.db import AsyncSessionLocal
from app.portfolios.repository import portfolio_counts_by_owner
from app.portfolios.service import assign_owner
from app.users import service
from app.users.repository import list_users

SHOWN_ONCE = "generated password (shown only this once):"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="manage_users.py",
        description="Create, change and list API users; assign portfolios to them.",
        epilog="Exit codes: 0 ok, 1 data error, 2 usage/config error.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (
        ("create", "create a user (the password is generated unless --password-stdin)"),
        ("set-password", "set a user's password (generated unless --password-stdin)"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("email")
        sub.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input",
        )
    for name, text in (
        ("disable", "disable a user: sign-in and every token they hold stop working"),
        ("enable", "enable a disabled user again (tokens from before stay ended)"),
        ("revoke", "sign a user out everywhere: every token they hold stops working"),
    ):
        commands.add_parser(name, help=text, description=text).add_argument("email")
    assign = commands.add_parser(
        "assign",
        help="make a user the owner of portfolios",
        description="make a user the owner of portfolios (they are then visible to that user only)",
    )
    assign.add_argument("email")
    assign.add_argument("portfolio_ids", nargs="+", type=uuid_arg, metavar="PORTFOLIO_UUID")
    commands.add_parser("list", help="list users", description="list users")
    return parser.parse_args(argv)


NOT_TEXT = (
    "--password-stdin: standard input is not UTF-8 text; "
    "give the password as one line of UTF-8 text"
)


def read_password(stdin: TextIO) -> str:
    """The first line of ``stdin`` without its line ending (other whitespace is kept), read
    as UTF-8 from the bytes underneath when there are any (whatever the locale)."""
    raw = getattr(stdin, "buffer", None)
    try:
        line = raw.readline().decode("utf-8") if raw is not None else stdin.readline()
        line.encode("utf-8")  # a lenient text stream hands undecodable bytes on as surrogates
    except UnicodeError:
        raise CommandError(EXIT_USAGE_ERROR, NOT_TEXT) from None
    password = line.rstrip("\r\n")
    if not password:
        raise CommandError(EXIT_USAGE_ERROR, "--password-stdin: no password on standard input")
    return password


async def _in_transaction(work: Callable[[AsyncSession], Awaitable[int]]) -> int:
    async with AsyncSessionLocal() as session, session.begin():
        return await work(session)


def main(argv: list[str] | None = None, stdin: TextIO | None = None) -> int:
    args = parse_args(argv)
    # soft_wrap: a printed password stays on one line, whatever the terminal width.
    out, err = Console(highlight=False, soft_wrap=True), Console(stderr=True)
    source = sys.stdin if stdin is None else stdin

    def body() -> int:
        password = read_password(source) if getattr(args, "password_stdin", False) else None
        return asyncio.run(_in_transaction(lambda session: _run(session, args, password, out)))

    return run_command(body, err=err, interrupted="interrupted: nothing was changed")


async def _run(
    session: AsyncSession, args: argparse.Namespace, password: str | None, out: Console
) -> int:
    if args.command == "create":
        created = await service.create_user(session, args.email, password)
        out.print(f"created user {created.user.email} ({created.user.id})", markup=False)
        if created.generated_password is not None:
            out.print(f"{SHOWN_ONCE} {created.generated_password}", markup=False)
    elif args.command == "set-password":
        changed = await service.set_password(session, args.email, password)
        out.print(f"password changed for {changed.user.email}", markup=False)
        if changed.generated_password is not None:
            out.print(f"{SHOWN_ONCE} {changed.generated_password}", markup=False)
    elif args.command in ("disable", "enable"):
        user = await service.set_active(session, args.email, args.command == "enable")
        out.print(f"{args.command}d {user.email}", markup=False)
    elif args.command == "revoke":
        user = await service.sign_out_everywhere(session, args.email)
        out.print(f"signed out {user.email} everywhere: earlier tokens are refused", markup=False)
    elif args.command == "assign":
        owner = await service.require_user(session, args.email)
        portfolios = await assign_owner(session, args.portfolio_ids, owner)
        for p in portfolios:
            out.print(f"{p.id}  {p.name}  -> {owner.email}", markup=False)
    else:
        out.print(await _users_table(session))
    return EXIT_OK


async def _users_table(session: AsyncSession) -> Table:
    counts: dict[uuid.UUID, int] = await portfolio_counts_by_owner(session)
    table = Table(title="Users", title_justify="left")
    table.add_column("Email")
    table.add_column("Active")
    table.add_column("Portfolios", justify="right")
    table.add_column("Created")
    table.add_column("Id", min_width=36)
    for user in await list_users(session):
        table.add_row(
            user.email,
            "yes" if user.is_active else "no (disabled)",
            str(counts.get(user.id, 0)),
            user.created_at.date().isoformat(),
            str(user.id),
        )
    return table


if __name__ == "__main__":
    sys.exit(main())
