"""Every PostgreSQL advisory lock the platform takes, named once.

A key is always two int4 values: (our namespace + the lock's number, the subject — an id, a
period as yyyymm, a partner). One shape and one registry, so two features can never pick the
same key by accident, the stalled-work sweep asks about exactly the key a worker holds, and a
reader finds every lock here. Session locks (held across transactions, released by
PostgreSQL when the session ends, e.g. a killed worker) guard long runs; transaction locks
serialise a short critical section and end with the transaction.
"""

from __future__ import annotations

from enum import IntEnum

from django.db import connection

# "HAK" in the high bytes: keeps our keys apart from anything else sharing the database.
_NAMESPACE = 0x48414B00
_INT4 = 2**32


class Lock(IntEnum):
    ATTRIBUTION = 1  # transaction: one attribution pass at a time decides pending sales
    SETTLEMENT_PERIOD = 2  # session, per period: one settlement run computes a month at a time
    INVOICE_PARTNER = 3  # transaction, per partner: one invoice at a time sweeps its pending items
    WEBHOOK_EVENT = 4  # transaction, per event id (hashed): two deliveries of one event, one waits
    PAYOUT_RUNS = 5  # session: payout runs are serialised
    UPLOAD = 6  # session, per upload: one worker processes a CSV upload
    SALE_PARTITIONS = 7  # transaction: one pass at a time creates the monthly partitions (sales, touchpoints, outcomes)


AdvisoryKey = tuple[int, int]


def advisory_key(lock: Lock, subject: int = 0) -> AdvisoryKey:
    """The key of `lock` for `subject`, folded into int4 (a subject past 2**31 may share a key
    with another: that only makes two unrelated holders wait for each other)."""
    return _NAMESPACE + int(lock), (subject + 2**31) % _INT4 - 2**31


def lock_session_acquire(key: AdvisoryKey, *, wait: bool = True) -> bool:
    """Take a session lock; with wait=False, False at once when another session holds it."""
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", key)
            return True
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        return bool(cursor.fetchone()[0])


def lock_session_release(key: AdvisoryKey) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def lock_transaction_acquire(key: AdvisoryKey) -> None:
    """Wait for and hold the lock until the current transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", key)


def lock_transaction_acquire_text(lock: Lock, subject: str) -> None:
    """As lock_transaction_acquire, for a textual subject (hashed by PostgreSQL's hashtext)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_NAMESPACE + int(lock), subject])


def lock_is_free(key: AdvisoryKey) -> bool:
    """Whether no session holds the session lock `key`: taken and let go at once (a worker
    that asks for it in that instant waits or retries, as it does behind any other holder)."""
    if not lock_session_acquire(key, wait=False):
        return False
    lock_session_release(key)
    return True
