"""canonical periods: every period column holds exactly YYYY-MM in ASCII digits, month 01-12

A period named with other digits (``٢٠٢٦-11``, ``２０２６-11``) was a second name of the same month, which
could be closed again and billed again. The application now parses every period to one canonical form;
this makes the database refuse any other. Rows already stored under another name are not rewritten here
(which of two closed Novembers is the bill is finance's decision): the upgrade stops and names them.

Revision ID: 20261203h17a
Revises: 20261129d1r7
Create Date: 2026-12-03 16:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from attribution.errors import ConfigError

revision: str = "20261203h17a"
down_revision: str | None = "20261129d1r7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column) of every period name that money is booked under.
PERIOD_COLUMNS = (
    ("periods", "period"),
    ("statement_lines", "period"),
    ("statement_lines", "charge_period"),
    ("correction_lines", "billing_period"),
    ("correction_lines", "charge_period"),
)
#: ``[0-9]`` in a Postgres regular expression is the ASCII range; ``\d`` would not be.
PG_CANONICAL = "^[0-9]{4}-(0[1-9]|1[0-2])$"
SQLITE_CANONICAL = (
    "length({c}) = 7 AND {c} GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]' "
    "AND substr({c}, 6, 2) BETWEEN '01' AND '12'"
)
MAX_SHOWN = 10


def _found(bind: sa.Connection, table: str, column: str) -> list[str]:
    if bind.dialect.name == "postgresql":
        where = f"NOT ({column} ~ '{PG_CANONICAL}')"
    else:
        where = f"NOT ({SQLITE_CANONICAL.format(c=column)})"
    sql = f"SELECT DISTINCT {column} FROM {table} WHERE {where} ORDER BY 1 LIMIT {MAX_SHOWN + 1}"
    return [str(r[0]) for r in bind.execute(sa.text(sql))]


def report_non_canonical(bind: sa.Connection) -> None:
    """Stop with one message naming every column that holds a period not in canonical form."""
    problems = []
    for table, column in PERIOD_COLUMNS:
        found = _found(bind, table, column)
        if found:
            shown = ", ".join(repr(v) for v in found[:MAX_SHOWN]) + (" ..." if len(found) > MAX_SHOWN else "")
            problems.append(f"{table}.{column}: {shown}")
    if problems:
        raise ConfigError(
            "periods not in canonical YYYY-MM form (ASCII digits) are stored: "
            + "; ".join(problems)
            + ". Each names a month that also has a canonical name; decide which rows are the bill, "
            "delete or rename the others to YYYY-MM, then run the upgrade again"
        )


def upgrade() -> None:
    bind = op.get_bind()
    report_non_canonical(bind)
    if bind.dialect.name == "postgresql":
        for table, column in PERIOD_COLUMNS:
            op.create_check_constraint(f"{column}_canonical", table, f"{column} ~ '{PG_CANONICAL}'")
        return
    # SQLite cannot add a constraint to a table; triggers refuse the same rows (the demo's database)
    for table, column in PERIOD_COLUMNS:
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER ck_{table}_{column}_canonical_{event.lower()} BEFORE {event} ON {table} "
                f"WHEN NOT ({SQLITE_CANONICAL.format(c='NEW.' + column)}) "
                f"BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {table}.{column} is not YYYY-MM'); END"
            )


def downgrade() -> None:
    bind = op.get_bind()
    for table, column in PERIOD_COLUMNS:
        if bind.dialect.name == "postgresql":
            op.drop_constraint(op.f(f"ck_{table}_{column}_canonical"), table, type_="check")
        else:
            for event in ("insert", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS ck_{table}_{column}_canonical_{event}")
