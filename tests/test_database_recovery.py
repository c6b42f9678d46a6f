"""After a long database outage the pool reconnects within seconds of the server's return, not after
psycopg_pool's doubling back-off (found by bench/bench_faults.py: 20 s to recover from a 40 s
outage). The outage goes through tests/fault_proxy.py; the shared server is never touched."""
from __future__ import annotations

import time

from sql.database import Database
from tests.fault_proxy import FaultProxy

# With psycopg_pool's default back-off the attempts fall near 1, 3, 7, 15 and 31 s into the outage:
# back at 17 s, the next attempt would be 10 s or more away.
OUTAGE_SECONDS = 17.0


def test_the_pool_reconnects_soon_after_a_long_outage(fresh_database_url):
    proxy = FaultProxy()
    db = Database(proxy.url_for(fresh_database_url()), max_size=2, wait_timeout=1.0)
    try:
        assert db.reachable()
        proxy.down()
        deadline = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < deadline:   # readiness probes and workers keep asking meanwhile
            assert not db.reachable(timeout=0.5)
            time.sleep(0.5)
        proxy.up()
        back = time.monotonic()
        while not db.reachable(timeout=0.5):
            assert time.monotonic() - back < 15, "the pool did not reconnect"
        recovered = time.monotonic() - back
        assert recovered < 4.0, f"the pool took {recovered:.1f} s to reconnect after the server came back"
    finally:
        proxy.up() if proxy._listener is None else None
        db.close()
        proxy.close()
