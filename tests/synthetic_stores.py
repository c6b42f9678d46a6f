"""A synthetic store loaded into a fresh database with its pseudonymous ids and a published discovery
run: what the tool, lifecycle and model tests ask questions of."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import pandas as pd

from analytics.core import ToolContext
from analytics.product_rollup import refresh_product_rollup
from analytics.pseudonyms import assign_public_ids
from discovery.importer import import_frame
from discovery.pipeline import run_discovery
from discovery.synthetic import StoreSpec, generate_store
from sql import Database


@dataclass
class LoadedStore:
    ctx: ToolContext
    frame: pd.DataFrame      # the generator's order lines (the oracle's source)
    truth: pd.DataFrame      # the planted types and lifecycle
    url: str


@contextmanager
def loaded_store(template: str, settings, customers: int, seed: int, **overrides) -> Iterator[LoadedStore]:
    from tests.conftest import create_database, drop_database

    url = create_database(template)
    db = Database(url, migrate=False)
    try:
        frame, truth = generate_store(StoreSpec(customers=customers, seed=seed))
        import_frame(db, frame, "synthetic")
        store_settings = settings.model_copy(update={"database_url": url, **overrides})
        assign_public_ids(db, store_settings)
        refresh_product_rollup(db)   # as after an import
        assert run_discovery(db, store_settings).status == "published"
        yield LoadedStore(ToolContext(db=db, settings=store_settings), frame, truth, url)
    finally:
        db.close()
        drop_database(url)
