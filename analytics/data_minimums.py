"""Whether the store has enough data for its predictions to mean much, as peers require before they
show predictive fields (Klaviyo: 500+ customers with orders, 180+ days of history, orders in the last
30 days, some repeat customers). One check per run, shared by the prediction answers and the
quality card, so every churn or value figure can say when it rests on too little."""
from __future__ import annotations

from pydantic import BaseModel

from analytics.core import RunInfo, ToolContext
from sql import query

MIN_BUYERS = 500
MIN_HISTORY_DAYS = 180
MIN_REPEAT_CUSTOMERS = 50


class DataCheck(BaseModel):
    check: str
    value: str
    enough: bool


def data_checks(ctx: ToolContext, run: RunInfo) -> tuple[list[DataCheck], dict]:
    """The four checks for the run (remembered per run in this process), and the run's row
    (metrics, counts) they were read from."""
    known = ctx.memo.get("data_checks")
    if known is not None and known[0] == run.run_id:
        return known[1], known[2]
    with ctx.db.cursor() as cur:
        cur.execute(query("runs.quality"), {"run_id": run.run_id})
        row = cur.fetchone()
    history_days = (run.as_of - row["first_order_at"]).days if row["first_order_at"] else 0
    checks = [
        DataCheck(check=f"buyers (at least {MIN_BUYERS})", value=f"{row['buyers']:,}", enough=row["buyers"] >= MIN_BUYERS),
        DataCheck(check=f"days of history (at least {MIN_HISTORY_DAYS})", value=f"{history_days:,}",
                  enough=history_days >= MIN_HISTORY_DAYS),
        DataCheck(check="orders in the last 30 days", value=f"{row['orders_last_30_days']:,}",
                  enough=row["orders_last_30_days"] > 0),
        DataCheck(check=f"customers with 3+ orders (at least {MIN_REPEAT_CUSTOMERS})",
                  value=f"{row['customers_with_3_orders']:,}",
                  enough=row["customers_with_3_orders"] >= MIN_REPEAT_CUSTOMERS),
    ]
    ctx.memo["data_checks"] = (run.run_id, checks, dict(row))
    return checks, dict(row)


def thin_data_note(ctx: ToolContext, run: RunInfo) -> str | None:
    """One sentence for a churn or value answer when the data is too thin to trust it, else None."""
    checks, _ = data_checks(ctx, run)
    short = [f"{c.check.split(' (')[0]}: {c.value}" for c in checks if not c.enough]
    if not short:
        return None
    return ("Too little data to trust these predictions yet (" + "; ".join(short) + "): treat churn and value "
            "figures as rough until the store has more history.")
