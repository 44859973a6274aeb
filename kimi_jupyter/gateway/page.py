"""The instructors' page at `/services/kimi/`: usage per student, a CSV export, budgets to change.

Every value on it is escaped (user names come from the hub's authenticator), and
a CSV cell that a spreadsheet would read as a formula is quoted as text.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from html import escape

from .store import StudentUsage

COLUMNS = ("student", "requests", "prompt_tokens", "completion_tokens", "cost_today_usd", "cost_total_usd",
           "daily_budget_usd", "last_request_utc")


def usd(value: float) -> str:
    """$0.50, or $0.0009 for amounts below a cent (a class's first answers are that small)."""
    return f"${value:.2f}" if value == 0 or abs(value) >= 0.01 else f"${value:.4f}"


def _when(at: float | None) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if at else ""


def _row(s: StudentUsage) -> tuple[str, ...]:
    return (s.user, str(s.requests), str(s.prompt_tokens), str(s.completion_tokens), f"{s.cost_today:.6f}",
            f"{s.cost_total:.6f}", f"{s.daily_usd:g}", _when(s.last_request))


def to_csv(rows: list[StudentUsage]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for s in rows:
        writer.writerow([f"'{v}" if v[:1] in ("=", "+", "-", "@") else v for v in _row(s)])
    return out.getvalue()


def to_html(course: str, rows: list[StudentUsage], prefix: str, xsrf_form: str, viewer: str) -> str:
    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in COLUMNS)
    body = []
    for s in rows:
        cells = [escape(s.user), str(s.requests), f"{s.prompt_tokens:,}", f"{s.completion_tokens:,}",
                 usd(s.cost_today), usd(s.cost_total)]
        form = (f'<form method="post" action="{escape(prefix)}budget">{xsrf_form}'
                f'<input type="hidden" name="user" value="{escape(s.user, quote=True)}">'
                f'<input name="usd" size="6" value="{s.daily_usd:g}"> <button>set</button></form>')
        cells += [form, escape(_when(s.last_request))]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    table = "\n".join(body) or f'<tr><td colspan="{len(COLUMNS)}">No requests yet.</td></tr>'
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Kimi usage: {escape(course)}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}}</style>
</head><body>
<h1>Kimi usage: {escape(course)}</h1>
<p>Signed in as {escape(viewer)}. Costs at the catalog's prices; budgets are per student per day (UTC).
<a href="{escape(prefix)}usage.csv">Download CSV</a></p>
<table><thead><tr>{head}</tr></thead><tbody>
{table}
</tbody></table></body></html>
"""
