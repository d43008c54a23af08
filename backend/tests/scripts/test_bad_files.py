"""Every file loader, fed generated malformed files: one clear line, exit 1 or 2, no traceback,
and the tables exactly as they were.

Each example starts from a valid file and breaks it in at least one way that makes it
unusable (a bad value, a field too many or too few, a missing column, a duplicate, bytes
that are not UTF-8, a truncated or mistyped JSON document, plain garbage). The loaders are
the scripts' ``main()`` in this process (tests/support/cli.py): the same parsing, checks and
exit codes as a child process, in milliseconds.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from app.core.sectors import GICS_SECTORS, UnknownSectorError, to_gics
from devtools.databases import TestDatabase
from tests.support.cli import CliRun, run_script, script_env

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    # Each example builds its own files; the module's database is only read.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TABLES = ("daily_prices", "security_profiles", "benchmarks_sector_weights")
GICS = list(GICS_SECTORS)
# Bytes that are never valid UTF-8, wherever they land in ASCII text.
NOT_UTF8 = st.sampled_from([b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xc3"])


@pytest.fixture(scope="module")
def sync_engine(database: TestDatabase) -> Iterator[Engine]:
    """The module's database with a row in each table, so 'unchanged' means something."""
    engine = create_engine(database.sync_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO daily_prices (symbol, date, close, adjusted_close)"
                " VALUES ('SPY', '2025-01-02', 1, 1)"
            )
        )
        conn.execute(text("INSERT INTO security_profiles (symbol, is_etf) VALUES ('SPY', true)"))
        conn.execute(
            text(
                "INSERT INTO benchmarks_sector_weights (benchmark_code, asof_date, sector, weight) "
                "VALUES ('SP500', '2025-01-02', 'Energy', 1)"
            )
        )
    yield engine
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
    engine.dispose()


_CHECKSUMS = [
    text(f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {name} t")  # noqa: S608
    for name in TABLES
]


def _tables(engine: Engine) -> list[object]:
    """Every column of every row of the three tables, as a checksum each."""
    with engine.connect() as conn:
        return [conn.execute(query).scalar() for query in _CHECKSUMS]


def _check(run: CliRun) -> None:
    assert run.code in (1, 2), run.output
    assert "Traceback" not in run.output, run.output
    assert "unexpected error" not in run.output, run.output
    assert run.stderr.startswith("error: "), run.output


def _run_with_file(
    database: TestDatabase, script: str, option: str, name: str, body: bytes
) -> CliRun:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(body)
        return run_script(script, option, str(path), env=script_env(database.env_url))


# --- building blocks ------------------------------------------------------------------


def _csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _accepted_number(text: str) -> bool:
    """A superset of what a positive price column accepts."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return False
    return value.is_finite() and 0 < value < Decimal("1e12")


def _accepted_date(text: str) -> bool:
    try:
        date.fromisoformat(text.strip())
    except ValueError:
        return False
    return True


def _accepted_symbol(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9.^=/_-]{1,20}", text.strip())) and any(
        c.isalnum() for c in text
    )


def _known_sector(text: str) -> bool:
    try:
        to_gics(text)
    except UnknownSectorError:
        return False
    return True


SYMBOLS = st.sampled_from(["SPY", "AAPL", "MSFT", "BRK.B", "^GSPC", "XOM"])
DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31))
PRICES = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=2)
WEIRD = st.text(max_size=30) | st.sampled_from(
    ["", " ", "NaN", "-1", "0", "1e13", "1_0", "∞", "1,5"]
)
HUGE = st.just("9" * 140_000)  # over the csv module's field limit


@st.composite
def price_rows(draw: st.DrawFn) -> list[list[str]]:
    keys = draw(st.lists(st.tuples(SYMBOLS, DATES), min_size=1, max_size=5, unique=True))
    return [[s, d.isoformat(), str(draw(PRICES))] for s, d in keys]


@st.composite
def broken_prices_csv(draw: st.DrawFn) -> bytes:
    header = ["symbol", "date", "close"]
    rows = draw(price_rows())
    n = draw(st.integers(0, len(rows) - 1))
    how = draw(
        st.sampled_from(
            [
                "value",
                "symbol",
                "date",
                "extra",
                "short",
                "column",
                "duplicate",
                "bytes",
                "garbage",
                "huge",
            ]
        )
    )
    if how == "value":
        rows[n][2] = draw(WEIRD.filter(lambda t: not _accepted_number(t)))
    elif how == "symbol":
        rows[n][0] = draw(WEIRD.filter(lambda t: not _accepted_symbol(t)))
    elif how == "date":
        rows[n][1] = draw(WEIRD.filter(lambda t: not _accepted_date(t)))
    elif how == "extra":
        rows[n].append(draw(st.text(max_size=5)))
    elif how == "short":
        rows[n].pop()
    elif how == "column":
        drop = draw(st.integers(0, 2))
        header.pop(drop)
        for row in rows:
            row.pop(drop)
    elif how == "duplicate":
        rows.append(list(rows[n]))
    elif how == "huge":
        rows[n][draw(st.integers(0, 2))] = draw(HUGE)
    body = _csv(header, rows).encode()
    if how == "bytes":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(NOT_UTF8) + body[at:]
    if how == "garbage":
        body = draw(st.binary(min_size=0, max_size=200))
    return body


@st.composite
def broken_profiles_csv(draw: st.DrawFn) -> bytes:
    header = ["symbol", "sector", "is_etf"]
    symbols = draw(st.lists(SYMBOLS, min_size=1, max_size=5, unique=True))
    rows = [[s, draw(st.sampled_from([*GICS, "Technology", ""])), "false"] for s in symbols]
    n = draw(st.integers(0, len(rows) - 1))
    how = draw(
        st.sampled_from(["sector", "flag", "symbol", "extra", "column", "duplicate", "bytes"])
    )
    if how == "sector":
        rows[n][1] = draw(
            st.text(min_size=1, max_size=30).filter(lambda t: t.strip() and not _known_sector(t))
        )
    elif how == "flag":
        rows[n][2] = draw(
            WEIRD.filter(
                lambda t: (
                    t.strip().lower()
                    not in {"true", "1", "yes", "y", "t", "false", "0", "no", "n", "f", ""}
                )
            )
        )
    elif how == "symbol":
        rows[n][0] = draw(WEIRD.filter(lambda t: not _accepted_symbol(t)))
    elif how == "extra":
        rows[n].append("")
    elif how == "column":
        drop = draw(st.integers(0, 1))
        header.pop(drop)
        for row in rows:
            row.pop(drop)
    elif how == "duplicate":
        rows.append([rows[n][0].lower(), "Energy", "no"])
    body = _csv(header, rows).encode()
    if how == "bytes":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(NOT_UTF8) + body[at:]
    return body


def _weights(draw: st.DrawFn) -> list[dict[str, object]]:
    units = draw(st.lists(st.integers(1, 10_000), min_size=11, max_size=11))
    total = sum(units)
    shares = [Decimal(u) / total for u in units]
    rows = [
        {"sector": s, "weight": str(round(w, 6)), "num_constituents": 40}
        for s, w in zip(GICS, shares, strict=True)
    ]
    # Make them sum to exactly 1 at six decimals.
    drift = Decimal(1) - sum(Decimal(str(r["weight"])) for r in rows)
    rows[0]["weight"] = str(Decimal(str(rows[0]["weight"])) + drift)
    return rows


@st.composite
def broken_weights_json(draw: st.DrawFn) -> bytes:
    doc: dict[str, object] = {
        "source": "test",
        "asof_date": "2025-06-30",
        "weights": _weights(draw),
    }
    weights: list[dict[str, object]] = doc["weights"]  # type: ignore[assignment]
    n = draw(st.integers(0, 10))
    how = draw(
        st.sampled_from(
            [
                "truncate",
                "weight",
                "key",
                "top",
                "sum",
                "sector",
                "date",
                "type",
                "nan",
                "deep",
                "bytes",
            ]
        )
    )
    body: bytes
    if how == "weight":
        weights[n]["weight"] = draw(
            st.one_of(
                st.none(), st.sampled_from(["abc", "-0.5", "", "1e999999", []]), st.booleans()
            )
        )
    elif how == "key":
        del doc[draw(st.sampled_from(["asof_date", "weights"]))]
    elif how == "sum":
        weights[n]["weight"] = str(Decimal(str(weights[n]["weight"])) + Decimal("0.01"))
    elif how == "sector":
        weights[n]["sector"] = draw(st.text(max_size=20).filter(lambda t: not _known_sector(t)))
    elif how == "date":
        doc["asof_date"] = draw(
            st.one_of(st.integers(-5, 5).map(str), st.sampled_from(["2025-02-30", "x", ""]))
        )
    elif how == "type":
        weights[n]["num_constituents"] = draw(st.sampled_from(["many", -3, 2**40, 1.5, {}]))
    if how == "top":
        body = json.dumps(
            draw(st.one_of(st.lists(st.integers()), st.integers(), st.text(), st.just({})))
        ).encode()
    elif how == "nan":
        body = json.dumps(doc).replace(str(weights[n]["weight"]).join('""'), "NaN", 1).encode()
    elif how == "deep":
        body = b"[" * draw(st.integers(5_000, 200_000))
    else:
        body = json.dumps(doc).encode()
    if how == "truncate":
        body = body[: draw(st.integers(0, len(body) - 1))]
    if how == "bytes":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(NOT_UTF8) + body[at:]
    return body


@st.composite
def broken_weights_csv(draw: st.DrawFn) -> bytes:
    header = ["asof_date", "sector", "weight", "num_constituents"]
    rows = [["2025-06-30", str(r["sector"]), str(r["weight"]), "40"] for r in _weights(draw)]
    n = draw(st.integers(0, 10))
    how = draw(
        st.sampled_from(["weight", "sector", "date", "extra", "short", "column", "count", "bytes"])
    )
    if how == "weight":
        rows[n][2] = draw(WEIRD.filter(lambda t: not _accepted_number(t)))
    elif how == "sector":
        rows[n][1] = draw(st.text(max_size=20).filter(lambda t: not _known_sector(t)))
    elif how == "date":
        rows[n][0] = draw(st.sampled_from(["2025-07-01", "", "tomorrow", "2025-02-30"]))
    elif how == "extra":
        rows[n].append("x")
    elif how == "short":
        rows[n] = rows[n][:2]
    elif how == "column":
        drop = draw(st.integers(0, 2))
        header.pop(drop)
        for row in rows:
            row.pop(drop)
    elif how == "count":
        rows[n][3] = draw(st.sampled_from(["-1", "many", "99999999999", "1.5"]))
    body = _csv(header, rows).encode()
    if how == "bytes":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(NOT_UTF8) + body[at:]
    return body


# --- the property ---------------------------------------------------------------------


@dataclass(frozen=True)
class Loader:
    """A script option that reads a file, and the broken files it is fed."""

    name: str
    script: str
    option: str
    filename: str
    broken: st.SearchStrategy[bytes]


CONSTITUENTS_HEADER = b"symbol,sector,cik,market_cap,date\n"
LOADERS = [
    Loader("prices csv", "load_prices", "--csv", "prices.csv", broken_prices_csv()),
    Loader("profiles csv", "load_prices", "--profiles-csv", "profiles.csv", broken_profiles_csv()),
    Loader(
        "weights json", "seed_benchmark_weights", "--from-file", "w.json", broken_weights_json()
    ),
    Loader("weights csv", "seed_benchmark_weights", "--from-file", "w.csv", broken_weights_csv()),
    Loader(
        "constituents csv of garbage",
        "seed_benchmark_weights",
        "--from-file",
        "c.csv",
        st.binary(max_size=300).map(lambda body: CONSTITUENTS_HEADER + body),
    ),
]


@dataclass(frozen=True)
class Given:
    """A file an @example feeds one loader in place of a drawn one."""

    loader: str
    body: bytes


def _file(data: st.DataObject | Given, loader: Loader) -> bytes:
    if isinstance(data, Given):
        assume(data.loader == loader.name)  # the other loaders skip it
        return data.body
    return data.draw(loader.broken, label="file")


@pytest.mark.parametrize("loader", LOADERS, ids=lambda loader: loader.name)
@SETTINGS
@given(data=st.data())
# Prices: a trailing comma, a byte that is not UTF-8. Profiles: a duplicate symbol, an empty one.
@example(data=Given("prices csv", b"symbol,date,close\nSPY,2025-10-17,1,\n"))
@example(data=Given("prices csv", b"symbol,date,close\nSPY,2025-10-17,1\n\xff"))
@example(data=Given("profiles csv", b"symbol,sector\nAAPL,Technology\nAAPL,Energy\n"))
@example(data=Given("profiles csv", b"symbol,sector\n,Energy\n"))
def test_a_broken_file_is_refused_in_one_line_and_changes_nothing(
    database: TestDatabase, sync_engine: Engine, loader: Loader, data: st.DataObject | Given
) -> None:
    body = _file(data, loader)
    before = _tables(sync_engine)
    _check(_run_with_file(database, loader.script, loader.option, loader.filename, body))
    assert _tables(sync_engine) == before
