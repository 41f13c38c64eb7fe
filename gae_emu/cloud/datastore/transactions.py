"""Cloud Datastore v1 transaction ids <-> the service's transactions.

A v1 transaction is opaque bytes; here it is the service transaction's handle in ASCII. v1
transactions always span entity groups (as Firestore in Datastore mode does), so every one is the
service's cross-group (xg) kind, bounded by 500 entity groups rather than 25, and may run
non-ancestor queries (every result's group then joins the transaction's conflict check). They are
optimistic, as Google's Datastore emulator is: the second of two conflicting commits gets ABORTED
and the client library retries. Read-only transactions refuse mutations at commit.

Imports: the standard library, `gae_emu.services.datastore`, this package.
"""
from __future__ import annotations

import threading
from typing import Any, Optional, Set

from gae_emu.cloud.datastore.errors import invalid
from gae_emu.services.datastore import BadRequestError, DatastoreService, Transaction

EXPIRED = "The referenced transaction has expired or is no longer valid."
MAX_ENTITIES = 500  # a Cloud Datastore transaction's bound (its commit's mutations), not App Engine's 25 groups


class Transactions:
    """The open v1 transactions of one service."""

    def __init__(self, service: DatastoreService) -> None:
        self.service = service
        self._read_only: Set[int] = set()
        self._lock = threading.Lock()

    def begin(self, app: str, options: Optional[Any]) -> Transaction:
        read_only = options is not None and options.WhichOneof("mode") == "read_only"
        if read_only and options.read_only.HasField("read_time"):
            raise invalid("transaction_options.read_only.read_time: reads at a past time are not "
                          "supported by gae-emu (it keeps no history)")
        txn = self.service.begin_transaction(xg=True, app=app, max_groups=MAX_ENTITIES)
        if read_only:
            with self._lock:
                self._read_only.add(txn.handle)
        return txn

    @staticmethod
    def to_bytes(txn: Transaction) -> bytes:
        return str(txn.handle).encode("ascii")

    def find(self, raw: bytes, where: str = "transaction") -> Transaction:
        try:
            handle = int(raw.decode("ascii"))
            return self.service.transaction(handle)
        except (UnicodeDecodeError, ValueError, BadRequestError):
            raise invalid(f"{where}: {EXPIRED}") from None

    def is_read_only(self, txn: Transaction) -> bool:
        with self._lock:
            return txn.handle in self._read_only

    def forget(self, txn: Transaction) -> None:
        with self._lock:
            self._read_only.discard(txn.handle)
