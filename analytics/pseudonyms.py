"""Pseudonymous customer ids `C-XXXXXXXX`: a keyed hash of the store's id, stable, resolvable back
through `customers.public_id`, so chat output never needs a real id."""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from sql import query

log = logging.getLogger(__name__)

_KEY_META = "pseudonym_key"                 # the generated key, when PSEUDONYM_SECRET is unset
_FINGERPRINT_META = "pseudonym_key_fingerprint"  # which key the stored ids were made with
_BLOCK = 64                                 # SHA-256 block size, for the HMAC pads
_MAX_SALT_PASSES = 50                       # 32-bit ids: collisions are rare, chains of them rarer


def public_id(store_customer_id: str, key: bytes, salt: str = "") -> str:
    """HMAC-SHA256(key, store id) → 'C-' + first 8 hex digits, upper case."""
    digest = hmac.new(key, (store_customer_id + salt).encode("utf-8"), hashlib.sha256).hexdigest()
    return "C-" + digest[:8].upper()


def _pads(key: bytes) -> tuple[bytes, bytes]:
    # RFC 2104: keys longer than a block are hashed first, shorter ones zero-padded.
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def _fingerprint(key: bytes) -> str:
    return hmac.new(key, b"cib-pseudonym-fingerprint", hashlib.sha256).hexdigest()[:16]


def pseudonym_key(db, settings) -> bytes:
    """PSEUDONYM_SECRET, or the random key generated once and kept in app_meta."""
    if settings.pseudonym_secret is not None:
        return settings.pseudonym_secret.get_secret_value().encode("utf-8")
    with db.cursor() as cur:
        # Two processes starting at once: the first insert wins, both read the same key back.
        cur.execute(query("pseudonyms.insert_meta_if_absent"),
                    {"key": _KEY_META, "value": secrets.token_hex(32)})
        cur.execute(query("pseudonyms.get_meta"), {"key": _KEY_META})
        return cur.fetchone()["value"].encode("utf-8")


def assign_public_ids(db, settings) -> int:
    """Give every customer without a public id one; recompute all of them if the key changed.
    Returns how many customers got a new id."""
    key = pseudonym_key(db, settings)
    inner_pad, outer_pad = _pads(key)
    assigned = 0
    with db.cursor() as cur:
        cur.execute(query("pseudonyms.lock"))  # one assigner at a time; released at commit
        cur.execute(query("pseudonyms.get_meta"), {"key": _FINGERPRINT_META})
        row = cur.fetchone()
        if row is None or row["value"] != _fingerprint(key):
            if row is not None:
                log.warning("the pseudonym key changed: recomputing every customer's public id")
            cur.execute(query("pseudonyms.clear_all"))
            cur.execute(query("pseudonyms.put_meta"), {"key": _FINGERPRINT_META, "value": _fingerprint(key)})
        for attempt in range(_MAX_SALT_PASSES):
            cur.execute(query("pseudonyms.fill_missing"),
                        {"inner_pad": inner_pad, "outer_pad": outer_pad, "salt": f":{attempt}" if attempt else ""})
            assigned += cur.rowcount
            cur.execute(query("pseudonyms.missing_count"))
            if cur.fetchone()["n"] == 0:
                break
        else:
            raise RuntimeError("could not assign unique public ids after %d passes" % _MAX_SALT_PASSES)
    if assigned:
        log.info("assigned public ids to %d customer(s)", assigned)
    return assigned
