"""`Transaction`: the state of one optimistic datastore transaction (the service drives it).

A transaction records, per entity group it touches (by read, write or ancestor query), the group's
version at that first touch; reads of a group come from a snapshot taken at its first read, and
writes are buffered, so a transaction never sees its own puts (App Engine semantics). The service's
`commit` checks the recorded versions, applies the buffered writes and runs the `on_commit`
callbacks inside one SQLite transaction. Non-xg transactions may touch one group, xg up to 25.

Imports: the standard library, `.entities`, `.errors`, `.keys`.
"""
from __future__ import annotations

import enum
import itertools
import sqlite3
from typing import Callable, Dict, List, Optional

from gae_emu.services.datastore.entities import Entity
from gae_emu.services.datastore.errors import BadRequestError
from gae_emu.services.datastore.keys import Key

MAX_ENTITY_GROUPS_PER_XG_TXN = 25
CommitHook = Callable[[sqlite3.Connection], None]
RollbackHook = Callable[[], None]
_handles = itertools.count(1)


class TransactionState(enum.Enum):
    ACTIVE = "active"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled back"


class Transaction:
    """One open datastore transaction. Create it with `DatastoreService.begin_transaction`."""

    def __init__(self, app: Optional[str], xg: bool = False, max_groups: int = MAX_ENTITY_GROUPS_PER_XG_TXN) -> None:
        self.handle: int = next(_handles)
        self.app = app
        self.xg = xg
        self.max_groups = max_groups
        self.state = TransactionState.ACTIVE
        self.group_versions: Dict[Key, int] = {}
        # root key -> {path text: entity row data} as committed when the txn first read the group
        self.snapshots: Dict[Key, Dict[str, str]] = {}
        # key -> entity to write, or None to delete; applied in order at commit
        self.mutations: Dict[Key, Optional[Entity]] = {}
        self._on_commit: List[CommitHook] = []
        self._on_rollback: List[RollbackHook] = []

    @property
    def active(self) -> bool:
        return self.state is TransactionState.ACTIVE

    def on_commit(self, fn: CommitHook) -> None:
        """Call `fn(conn)` inside the commit's SQLite transaction; if it raises, nothing commits."""
        self.check_active()
        self._on_commit.append(fn)

    def on_rollback(self, fn: RollbackHook) -> None:
        """Call `fn()` when the transaction rolls back or fails to commit."""
        self.check_active()
        self._on_rollback.append(fn)

    def check_active(self) -> None:
        if not self.active:
            raise BadRequestError("Transaction %d is already %s." % (self.handle, self.state.value))

    def needs_group(self, root: Key) -> bool:
        """True when `root` is new to this transaction (after checking the group limits)."""
        if root in self.group_versions:
            return False
        if self.app is not None and root.app() != self.app:
            raise BadRequestError("Transactions cannot span applications (expected %s, got %s)"
                                  % (self.app, root.app()))
        if self.xg:
            if len(self.group_versions) >= self.max_groups:
                raise BadRequestError("operating on too many entity groups in a single transaction.")
        elif self.group_versions:
            raise BadRequestError("cross-groups transaction need to be explicitly specified (xg=True)")
        return True

    def commit_hooks(self) -> List[CommitHook]:
        return list(self._on_commit)

    def finish(self, state: TransactionState) -> List[RollbackHook]:
        """End the transaction; returns the rollback hooks to run when it did not commit."""
        self.state = state
        hooks = self._on_rollback if state is TransactionState.ROLLED_BACK else []
        self._on_commit, self._on_rollback = [], []
        self.snapshots.clear()
        return hooks

    def __repr__(self) -> str:
        return "<Transaction %d %s xg=%s groups=%d>" % (
            self.handle, self.state.value, self.xg, len(self.group_versions))
