"""An embedded PostgreSQL (the `pgserver` wheel) for zero-config runs: Unix socket only, data reused."""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from sql.safe_files import private_dir

log = logging.getLogger(__name__)


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded server under DATA_DIR/postgres and return its URL."""
    # pgserver needs the parent to exist; as root it runs PostgreSQL as its own user, which must
    # be able to pass through DATA_DIR (0711), otherwise DATA_DIR is owner-only.
    private_dir(data_dir, traversable=os.geteuid() == 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        import pgserver

        # cleanup_mode=None leaves the server running for the next process: starting is the slow part.
        server = pgserver.get_server(data_dir / "postgres", cleanup_mode=None)
    url = server.get_uri()
    log.info("embedded PostgreSQL at %s", data_dir / "postgres")
    return url
