"""Pseudonymous ids: keyed, stable, unique, computed in SQL exactly as in Python, recomputed on a key change."""
from __future__ import annotations

import hashlib
import hmac
import re

from analytics.pseudonyms import assign_public_ids, public_id
from settings import load_settings
from tests.analytics_fixture import CUSTOMERS, analytics_db, load_fixture  # noqa: F401


def _ids(db) -> dict[str, str]:
    with db.cursor() as cur:
        cur.execute("SELECT store_customer_id, public_id FROM customers")
        return {r["store_customer_id"]: r["public_id"] for r in cur.fetchall()}


def test_public_id_is_hmac_sha256_prefix():
    expected = hmac.new(b"k", b"S001", hashlib.sha256).hexdigest()[:8].upper()
    assert public_id("S001", b"k") == "C-" + expected
    assert public_id("S001", b"k") != public_id("S001", b"other key")
    assert re.fullmatch(r"C-[0-9A-F]{8}", public_id("x" * 500, b"k" * 100))


def test_sql_assignment_matches_python_and_is_stable(analytics_db, settings):
    load_fixture(analytics_db)
    assert assign_public_ids(analytics_db, settings) == len(CUSTOMERS)
    ids = _ids(analytics_db)
    key = settings.pseudonym_secret.get_secret_value().encode()
    assert ids == {s: public_id(s, key) for s in CUSTOMERS}
    assert assign_public_ids(analytics_db, settings) == 0  # nothing missing: nothing changes
    assert _ids(analytics_db) == ids

    # A long key (> one SHA-256 block) takes the RFC 2104 hashed-key path in SQL too.
    long_key = "k" * 100
    changed = settings.model_copy(update={"pseudonym_secret": load_settings(
        pseudonym_secret=long_key, _env_file=None).pseudonym_secret})
    assert assign_public_ids(analytics_db, changed) == len(CUSTOMERS)  # key changed: all recomputed
    assert _ids(analytics_db) == {s: public_id(s, long_key.encode()) for s in CUSTOMERS}


def test_generated_key_is_kept_in_the_database(fresh_db, settings):
    unset = settings.model_copy(update={"pseudonym_secret": None})
    with fresh_db.cursor() as cur:
        cur.execute("INSERT INTO customers (store_customer_id) VALUES ('a'), ('b')")
    assign_public_ids(fresh_db, unset)
    first = _ids(fresh_db)
    with fresh_db.cursor() as cur:
        cur.execute("SELECT value FROM app_meta WHERE key = 'pseudonym_key'")
        stored_key = cur.fetchone()["value"]
        cur.execute("INSERT INTO customers (store_customer_id) VALUES ('c')")
    assign_public_ids(fresh_db, unset)
    after = _ids(fresh_db)
    assert {k: after[k] for k in first} == first  # earlier ids unchanged
    assert after["c"] == public_id("c", stored_key.encode())


def test_collisions_get_a_salted_id(fresh_db, settings):
    # Force a collision: a customer already holds the id another one would get.
    key = settings.pseudonym_secret.get_secret_value().encode()
    with fresh_db.cursor() as cur:
        cur.execute("INSERT INTO customers (store_customer_id, public_id) VALUES ('squatter', %s)",
                    (public_id("victim", key),))
        cur.execute("INSERT INTO app_meta (key, value) SELECT 'pseudonym_key_fingerprint', %s", (
            hmac.new(key, b"cib-pseudonym-fingerprint", hashlib.sha256).hexdigest()[:16],))
        cur.execute("INSERT INTO customers (store_customer_id) VALUES ('victim')")
    assign_public_ids(fresh_db, settings)
    ids = _ids(fresh_db)
    assert ids["victim"] == public_id("victim", key, ":1")
    assert len(set(ids.values())) == 2
