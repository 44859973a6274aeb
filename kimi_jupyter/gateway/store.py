"""The gateway's usage and budgets: SQLite by default, any SQLAlchemy database for replicas.

One row per forwarded chat request, written *before* the request goes upstream
(so a gateway that dies mid-stream has not lost it) and completed in place when
the answer's usage arrives (so nothing is counted twice, whatever restarts). A
replica sharing a PostgreSQL database sees every other replica's rows; the
concurrency limit is per replica.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    case,
    create_engine,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ..core.stream import Usage

_meta = MetaData()
usage_table = Table(
    "kimi_gateway_usage", _meta,
    Column("id", String(64), primary_key=True),
    Column("user", String(255), nullable=False, index=True),
    Column("course", String(255), nullable=False, index=True),
    Column("day", String(10), nullable=False, index=True),  # UTC date the request started
    Column("model", String(255), nullable=False, default=""),
    Column("started", Float, nullable=False),
    Column("finished", Float),
    Column("status", String(16), nullable=False, default="open"),  # open | done | failed
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("cached_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", Float, nullable=False, default=0.0),
)
budget_table = Table(
    "kimi_gateway_budgets", _meta,
    Column("user", String(255), primary_key=True),
    Column("course", String(255), primary_key=True),
    Column("daily_usd", Float, nullable=False),
)


def utc_day(at: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if at is None else at, timezone.utc).strftime("%Y-%m-%d")


@dataclass
class StudentUsage:
    """One row of the instructors' page."""

    user: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_today: float
    cost_total: float
    last_request: float | None
    daily_usd: float


class Store:
    """Usage rows and budgets. Every method is one short transaction."""

    def __init__(self, url: str) -> None:
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.url = url
        self.engine = create_engine(url, **kwargs)
        _meta.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- requests
    def open(self, request_id: str, user: str, course: str, model: str, started: float | None = None) -> None:
        started = time.time() if started is None else started
        with self.engine.begin() as db:
            db.execute(usage_table.insert().values(
                id=request_id, user=user, course=course, day=utc_day(started), model=model[:255],
                started=started, status="open",
            ))

    def close_request(self, request_id: str, usage: Usage | None, cost_usd: float, ok: bool) -> bool:
        """Complete a request with its usage. Only an open row changes: a second call counts nothing."""
        u = usage or Usage()
        with self.engine.begin() as db:
            done = db.execute(
                update(usage_table)
                .where(usage_table.c.id == request_id, usage_table.c.status == "open")
                .values(status="done" if ok else "failed", finished=time.time(),
                        prompt_tokens=u.prompt_tokens, cached_tokens=u.cached_tokens,
                        completion_tokens=u.completion_tokens, cost_usd=cost_usd)
            )
            return bool(done.rowcount)

    def spent(self, user: str, course: str, day: str | None = None) -> float:
        with self.engine.begin() as db:
            total = db.execute(
                select(func.coalesce(func.sum(usage_table.c.cost_usd), 0.0))
                .where(usage_table.c.user == user, usage_table.c.course == course,
                       usage_table.c.day == (day or utc_day()))
            ).scalar_one()
        return float(total)

    # -- budgets
    def budget(self, user: str, course: str, default: float) -> float:
        with self.engine.begin() as db:
            value = db.execute(
                select(budget_table.c.daily_usd)
                .where(budget_table.c.user == user, budget_table.c.course == course)
            ).scalar_one_or_none()
        return default if value is None else float(value)

    def set_budget(self, user: str, course: str, daily_usd: float) -> None:
        values = {"user": user, "course": course, "daily_usd": daily_usd}
        dialect = self.engine.dialect.name
        insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}.get(dialect)
        with self.engine.begin() as db:
            if insert is not None:
                stmt = insert(budget_table).values(**values)
                db.execute(stmt.on_conflict_do_update(index_elements=["user", "course"],
                                                      set_={"daily_usd": daily_usd}))
                return
            # Other databases: update, else insert (one transaction).
            changed = db.execute(update(budget_table).where(
                budget_table.c.user == user, budget_table.c.course == course).values(daily_usd=daily_usd))
            if not changed.rowcount:
                db.execute(budget_table.insert().values(**values))

    # -- the instructors' page
    def report(self, course: str, default_budget: float, day: str | None = None) -> list[StudentUsage]:
        day = day or utc_day()
        c = usage_table.c
        today = func.sum(case((c.day == day, c.cost_usd), else_=0.0))  # portable, unlike FILTER
        query = (
            select(c.user, func.count(), func.sum(c.prompt_tokens), func.sum(c.completion_tokens),
                   func.coalesce(today, 0.0), func.sum(c.cost_usd), func.max(c.started))
            .where(c.course == course).group_by(c.user).order_by(c.user)
        )
        with self.engine.begin() as db:
            rows = db.execute(query).all()
            budgets = dict(db.execute(select(budget_table.c.user, budget_table.c.daily_usd)
                                      .where(budget_table.c.course == course)).all())
        out = [StudentUsage(user, int(n), int(p or 0), int(cpl or 0), float(t or 0.0), float(total or 0.0),
                            last, float(budgets.get(user, default_budget)))
               for user, n, p, cpl, t, total, last in rows]
        seen = {s.user for s in out}
        # A student with a budget set but no request yet is listed too.
        out += [StudentUsage(u, 0, 0, 0, 0.0, 0.0, None, float(b)) for u, b in budgets.items() if u not in seen]
        return sorted(out, key=lambda s: s.user)
