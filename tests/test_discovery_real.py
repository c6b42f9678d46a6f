"""Discovery on real retail data: the Online Retail II year (UCI), imported with the importer.
BG/NBD fitting is where lifetimes fails on this data; here the run must complete and store the
churn backtest AUC (and which purchase model it used)."""
from __future__ import annotations

import pytest

from discovery.importer import import_file
from discovery.pipeline import run_discovery
from settings import load_settings
from sql.database import Database


@pytest.fixture
def retail_db(fresh_database_url, shared_data):
    db = Database(fresh_database_url())
    import_file(db, shared_data / "online_retail_ii" / "online_retail_II_2009_2010.parquet")
    yield db
    db.close()


def test_online_retail_ii_run_completes_with_backtest_auc(retail_db, tmp_path):
    settings = load_settings(database_url=retail_db.url, data_dir=tmp_path, redis_url=None, _env_file=None)
    summary = run_discovery(retail_db, settings)
    assert summary.status == "published", summary.error
    assert summary.customers > 4000 and summary.archetypes > 1
    with retail_db.cursor() as cur:
        cur.execute("SELECT metrics, counts FROM discovery_runs WHERE is_current")
        run = cur.fetchone()
        cur.execute("""SELECT count(*) AS n, avg(churn_probability) AS churn, min(churn_probability) AS lo,
                              max(churn_probability) AS hi FROM customer_profiles
                       WHERE run_id = (SELECT run_id FROM discovery_runs WHERE is_current)""")
        stats = cur.fetchone()
    metrics = run["metrics"]
    backtest = metrics["backtest"]
    assert backtest["possible"] is True
    assert 0.6 < backtest["auc_btyd"] <= 1 and 0.6 < backtest["auc_supervised"] <= 1
    assert metrics["churn_auc"] == max(backtest["auc_btyd"], backtest["auc_supervised"])
    assert metrics["purchase_model"]["model"] in {"bg/nbd", "nbd"}
    assert metrics["churn_model"] in {"bg/nbd", "nbd", "logistic regression + boosting on stacked windows (calibrated)"}
    assert 0.6 < backtest["auc_frequency"] <= 1 and backtest["calibration_supervised"]
    assert stats["n"] == summary.customers and 0 <= stats["lo"] <= stats["churn"] <= stats["hi"] <= 1
