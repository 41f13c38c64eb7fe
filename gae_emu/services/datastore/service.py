"""`DatastoreService`: entities in the app's SQLite database, with transactions and queries.

Tables (all `datastore_*`): entities by (app, namespace, path) with their kind and entity group;
one version number per entity group, bumped by every committed write to the group (transactional
or not) so optimistic transactions can detect conflicts; and one id counter per app, so automatic
ids are never reused, across restarts too.

Imports: the standard library, `gae_emu.storage`, and this package. No HTTP.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from gae_emu.services.datastore import codec, indexes, metadata, query as query_module
from gae_emu.services.datastore.entities import Entity, with_user_ids
from gae_emu.services.datastore.errors import BadArgumentError, BadRequestError, Timeout, TransactionFailedError
from gae_emu.services.datastore.keys import Key
from gae_emu.services.datastore.query import Query, QueryResult
from gae_emu.services.datastore.transactions import MAX_ENTITY_GROUPS_PER_XG_TXN, Transaction, TransactionState
from gae_emu.storage import Storage, full_disk_as

log = logging.getLogger(__name__)
MAX_ID_BATCH_SIZE = 1000 * 1000 * 1000  # datastore_rpc._MAX_ID_BATCH_SIZE
MAX_SEQUENTIAL_ID = (1 << 52) - 1  # automatic ids stay below this (datastore_stub_util)

SCHEMA = """
CREATE TABLE IF NOT EXISTS datastore_entities (
    app TEXT NOT NULL, namespace TEXT NOT NULL, path TEXT NOT NULL,
    kind TEXT NOT NULL, root TEXT NOT NULL, data TEXT NOT NULL, updated REAL NOT NULL,
    PRIMARY KEY (app, namespace, path));
CREATE INDEX IF NOT EXISTS datastore_entities_kind ON datastore_entities (app, namespace, kind);
CREATE INDEX IF NOT EXISTS datastore_entities_root ON datastore_entities (app, namespace, root);
CREATE TABLE IF NOT EXISTS datastore_groups (
    app TEXT NOT NULL, namespace TEXT NOT NULL, root TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (app, namespace, root));
CREATE TABLE IF NOT EXISTS datastore_ids (app TEXT PRIMARY KEY, next_id INTEGER NOT NULL);
"""


def _row_key(key: Key) -> Tuple[str, str, str]:
    return key.app(), key.namespace(), codec.path_text(key.path)


def _root_text(key: Key) -> str:
    return codec.path_text(key.path[:1])


def _equality_fragments(query: Query) -> List[List[str]]:
    """For each equality (or IN) filter on a property, the texts a matching row must contain one
    of (`codec.value_fragments`); a superset test, the query still checks every row it decodes."""
    out = []
    for f in query_module.normalize_filters(query.filters):
        if f.name == query_module.KEY_PROPERTY or f.op not in ("=", "in"):
            continue
        fragments: List[str] = []
        for value in (f.value if f.op == "in" else (f.value,)):
            found = codec.value_fragments(value)
            if found is None:
                break
            fragments.extend(found)
        else:
            if fragments:
                out.append(fragments)
    return out


class DatastoreService:
    """The emulated datastore of one app database."""

    def __init__(self, storage: Storage, *, clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.clock = clock
        self._lock = threading.Lock()
        self._transactions: Dict[int, Transaction] = {}
        self.index_policy: Optional[Callable[[Query], None]] = None  # set by the emulator (index.yaml)
        storage.ensure_schema("datastore", SCHEMA)

    # -- ids -----------------------------------------------------------------------------------

    def _allocate(self, conn: sqlite3.Connection, app: str, size: int) -> int:
        conn.execute("INSERT INTO datastore_ids (app, next_id) VALUES (?, 1) ON CONFLICT DO NOTHING", (app,))
        (start,) = conn.execute("SELECT next_id FROM datastore_ids WHERE app = ?", (app,)).fetchone()
        conn.execute("UPDATE datastore_ids SET next_id = ? WHERE app = ?", (start + size, app))
        return start

    def _reserve(self, conn: sqlite3.Connection, keys: Iterable[Key]) -> None:
        """Keep automatic ids clear of ids the app chose itself (App Engine's sequential policy)."""
        for key in keys:
            for _, id_or_name in key.path:
                # Ids above the sequential range are production's scattered ids: not reserved.
                if isinstance(id_or_name, int) and id_or_name <= MAX_SEQUENTIAL_ID:
                    conn.execute(
                        "INSERT INTO datastore_ids (app, next_id) VALUES (?, ?) ON CONFLICT (app) "
                        "DO UPDATE SET next_id = max(next_id, excluded.next_id)", (key.app(), id_or_name + 1))

    @full_disk_as(Timeout)
    def allocate_ids(self, key_prefix: Key, size: int) -> Tuple[int, int]:
        """Reserve `size` ids (never handed out again); returns the inclusive range (start, end)."""
        if size < 1:
            raise BadArgumentError("size must be at least 1; received %d" % size)
        if size > MAX_ID_BATCH_SIZE:  # the client library's own check, made here for raw RPCs
            raise BadArgumentError(f"Cannot allocate more than {MAX_ID_BATCH_SIZE} ids at a time; received {size}")
        with self.storage.transaction() as conn:
            start = self._allocate(conn, key_prefix.app(), size)
        return start, start + size - 1

    def reserve_ids(self, keys: Sequence[Key]) -> None:
        """Never hand out these keys' ids automatically (Cloud Datastore's ReserveIds)."""
        with self.storage.transaction() as conn:
            self._reserve(conn, keys)

    def _complete(self, keys: List[Key], conn: Optional[sqlite3.Connection] = None) -> List[Key]:
        """`keys` with fresh ids for the incomplete ones (in `conn`'s transaction, else in one of its own)."""
        incomplete = [i for i, k in enumerate(keys) if not k.has_id_or_name()]
        if not incomplete:
            return keys
        if conn is None:
            with self.storage.transaction() as own:
                return self._complete(keys, own)
        by_app: Dict[str, List[int]] = {}
        for i in incomplete:
            by_app.setdefault(keys[i].app(), []).append(i)
        done = list(keys)
        for app, indexes in by_app.items():
            start = self._allocate(conn, app, len(indexes))
            for offset, i in enumerate(indexes):
                done[i] = keys[i].with_id(start + offset)
        return done

    # -- groups --------------------------------------------------------------------------------

    def _version(self, conn: sqlite3.Connection, root: Key) -> int:
        row = conn.execute("SELECT version FROM datastore_groups WHERE app=? AND namespace=? AND root=?",
                           (root.app(), root.namespace(), _root_text(root))).fetchone()
        return row[0] if row else 0

    def _bump(self, conn: sqlite3.Connection, roots: Iterable[Key]) -> None:
        for root in set(roots):
            conn.execute(
                "INSERT INTO datastore_groups (app, namespace, root, version) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (app, namespace, root) DO UPDATE SET version = version + 1",
                (root.app(), root.namespace(), _root_text(root)))

    def group_versions(self, keys: Sequence[Key]) -> List[int]:
        """The version of each key's entity group (it rises with every committed write to the group)."""
        with self.storage.read() as conn:
            return [self._version(conn, key.root()) for key in keys]

    def _touch(self, txn: Transaction, key: Key, read: bool) -> Key:
        """Record `key`'s group in `txn` (its version, and a snapshot when read); returns the root."""
        txn.check_active()
        root = key.root()
        new = txn.needs_group(root)
        if new or (read and root not in txn.snapshots):
            with self.storage.transaction() as conn:  # version and rows from one committed state
                version = self._version(conn, root)
                if new:
                    txn.group_versions[root] = version
                if read:
                    if version != txn.group_versions[root]:
                        log.debug("group %r changed before %r first read it", root, txn)
                    rows = conn.execute(
                        "SELECT path, data FROM datastore_entities WHERE app=? AND namespace=? AND root=?",
                        (root.app(), root.namespace(), _root_text(root))).fetchall()
                    txn.snapshots[root] = dict(rows)
        return root

    # -- get / put / delete --------------------------------------------------------------------

    def get(self, keys: Sequence[Key], txn: Optional[Transaction] = None) -> List[Optional[Entity]]:
        for key in keys:
            if not key.has_id_or_name():
                raise BadRequestError("The key %r is incomplete." % (key,))
        if any(metadata.entity_group_key(k) for k in keys):
            return [self._get_one(k, txn) for k in keys]
        return self._get_stored(keys, txn)

    def _get_one(self, key: Key, txn: Optional[Transaction]) -> Optional[Entity]:
        root = metadata.entity_group_key(key)
        if root is None:
            return self._get_stored([key], txn)[0]
        if txn is not None:
            self._touch(txn, root, read=False)
            return metadata.entity_group(key, txn.group_versions[root])
        with self.storage.read() as conn:
            return metadata.entity_group(key, self._version(conn, root))

    def _get_stored(self, keys: Sequence[Key], txn: Optional[Transaction]) -> List[Optional[Entity]]:
        if txn is not None:
            out: List[Optional[Entity]] = []
            for key in keys:
                data = txn.snapshots[self._touch(txn, key, read=True)].get(codec.path_text(key.path))
                out.append(codec.decode_entity(key, data) if data is not None else None)
            return out
        with self.storage.read() as conn:
            rows = [conn.execute("SELECT data FROM datastore_entities WHERE app=? AND namespace=? AND path=?",
                                 _row_key(key)).fetchone() for key in keys]
        return [codec.decode_entity(key, row[0]) if row else None for key, row in zip(keys, rows)]

    @full_disk_as(Timeout)
    def put(self, entities: Sequence[Entity], txn: Optional[Transaction] = None) -> List[Key]:
        """Store entities; incomplete keys get fresh ids (also inside a transaction)."""
        for entity in entities:
            if not entity.key.path:
                raise BadRequestError("An entity needs a key with a kind.")
            if any(not kind for kind, _ in entity.key.path):  # production refuses it; the console could not list it
                raise BadRequestError(f"Every element of a key's path needs a kind: {entity.key.path!r}")
        if txn is not None:
            keys = self._complete([e.key for e in entities])
            for entity, key in zip(entities, keys):
                self._touch(txn, key, read=False)
                txn.mutations[key] = with_user_ids(entity if entity.key == key else entity.with_key(key))
            return keys
        with self.storage.transaction() as conn:  # ids and rows in one SQLite transaction
            keys = self._complete([e.key for e in entities], conn)
            stored = [with_user_ids(e if e.key == k else e.with_key(k)) for e, k in zip(entities, keys)]
            self._apply(conn, [(e.key, e) for e in stored])
        return keys

    @full_disk_as(Timeout)
    def delete(self, keys: Sequence[Key], txn: Optional[Transaction] = None) -> None:
        for key in keys:
            if not key.has_id_or_name():
                raise BadRequestError("The key %r is incomplete." % (key,))
        if txn is not None:
            for key in keys:
                self._touch(txn, key, read=False)
                txn.mutations[key] = None
            return
        with self.storage.transaction() as conn:
            self._apply(conn, [(k, None) for k in keys])

    def _apply(self, conn: sqlite3.Connection, mutations: Sequence[Tuple[Key, Optional[Entity]]]) -> None:
        now = self.clock()
        for key, entity in mutations:
            if entity is None:
                conn.execute("DELETE FROM datastore_entities WHERE app=? AND namespace=? AND path=?",
                             _row_key(key))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO datastore_entities (app, namespace, path, kind, root, data, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    _row_key(key) + (key.kind(), _root_text(key), codec.encode_entity(entity), now))
        self._reserve(conn, [k for k, e in mutations if e is not None])
        self._bump(conn, [k.root() for k, _ in mutations])

    # -- transactions --------------------------------------------------------------------------

    def begin_transaction(self, xg: bool = False, app: Optional[str] = None,
                          max_groups: int = MAX_ENTITY_GROUPS_PER_XG_TXN) -> Transaction:
        """A new transaction; `max_groups` bounds an xg one (Cloud Datastore's are not App Engine's 25)."""
        txn = Transaction(app, xg, max_groups)
        with self._lock:
            self._transactions[txn.handle] = txn
        return txn

    def transaction(self, handle: int) -> Transaction:
        """The open transaction with this handle (for wire front ends that only see handles)."""
        with self._lock:
            txn = self._transactions.get(handle)
        if txn is None:
            raise BadRequestError("Transaction %d not found (already committed or rolled back)." % handle)
        return txn

    @full_disk_as(Timeout)
    def commit(self, txn: Transaction) -> None:
        """Apply `txn` or raise TransactionFailedError; `on_commit` hooks share its SQLite transaction."""
        txn.check_active()
        try:
            with self.storage.transaction() as conn:
                for root, version in txn.group_versions.items():
                    if self._version(conn, root) != version:
                        raise TransactionFailedError(
                            "Concurrency exception: entity group %r changed since the transaction "
                            "first used it." % (root,))
                if txn.mutations:
                    self._apply(conn, list(txn.mutations.items()))
                for hook in txn.commit_hooks():
                    hook(conn)
        except BaseException:
            self._end(txn, TransactionState.ROLLED_BACK)
            raise
        self._end(txn, TransactionState.COMMITTED)

    def rollback(self, txn: Transaction) -> None:
        """Discard `txn` (a no-op once it has ended)."""
        if txn.active:
            self._end(txn, TransactionState.ROLLED_BACK)

    def _end(self, txn: Transaction, state: TransactionState) -> None:
        with self._lock:
            self._transactions.pop(txn.handle, None)
        for hook in txn.finish(state):
            try:
                hook()
            except Exception:  # one failing hook must not keep the others from running
                log.exception("on_rollback hook of %r failed", txn)

    # -- queries -------------------------------------------------------------------------------

    def _candidates(self, query: Query, txn: Optional[Transaction]) -> List[Entity]:
        if txn is not None and query.ancestor is not None:
            root = self._touch(txn, query.ancestor, read=True)
            rows = list(txn.snapshots[root].items())
            return [codec.decode_entity(codec.key_from_row(root.app(), root.namespace(), p), d) for p, d in rows]
        sql = "SELECT app, namespace, path, data FROM datastore_entities WHERE namespace = ?"
        args: list = [query.namespace]
        if query.app is not None:
            sql += " AND app = ?"
            args.append(query.app)
        if query.ancestor is not None:
            sql += " AND root = ?"
            args.append(_root_text(query.ancestor))
        elif query.kind is not None:
            sql += " AND kind = ?"
            args.append(query.kind)
        for fragments in _equality_fragments(query):  # skip rows that cannot match, undecoded
            sql += " AND (" + " OR ".join(["instr(data, ?) > 0"] * len(fragments)) + ")"
            args.extend(fragments)
        with self.storage.read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [codec.decode_entity(codec.key_from_row(app, ns, path), data) for app, ns, path, data in rows]

    def run_query(self, query: Query, txn: Optional[Transaction] = None) -> QueryResult:
        if metadata.is_metadata(query.kind):
            metadata.check(query, txn is not None)
            return query_module.run(metadata.scoped(query), self._metadata_candidates(query))
        if self.index_policy is not None:  # index.yaml: refuse (--require-indexes) or note the index
            self.index_policy(query)
        if txn is not None and query.ancestor is None:  # Cloud Datastore's rules allow it (query.validate)
            result = query_module.run(query, self._candidates(query, None), in_transaction=True)
            for key in result.keys:  # a result that changes before the commit makes it fail
                self._touch(txn, key, read=False)
        else:
            result = query_module.run(query, self._candidates(query, txn), in_transaction=txn is not None)
        result.index = indexes.composite_index(query)
        return result

    def _metadata_candidates(self, query: Query) -> List[Entity]:
        if query.kind == metadata.KIND:
            return metadata.kind_entities(query, self.kinds(query.namespace, query.app))
        if query.kind == metadata.NAMESPACE:
            return metadata.namespace_entities(query, self.namespaces(query.app))
        stored = self._candidates(Query(namespace=query.namespace, app=query.app), None)
        return metadata.property_entities(query, stored)

    def count(self, query: Query, txn: Optional[Transaction] = None) -> int:
        keys_query = Query(**{**query.__dict__, "keys_only": not query.projection})
        return len(self.run_query(keys_query, txn).entities)

    # -- admin ---------------------------------------------------------------------------------

    def namespaces(self, app: Optional[str] = None) -> List[str]:
        """The namespaces holding entities (of `app`, or of any app)."""
        with self.storage.read() as conn:
            rows = conn.execute("SELECT DISTINCT namespace FROM datastore_entities WHERE ? IS NULL OR app = ? "
                                "ORDER BY namespace", (app, app)).fetchall()
        return [r[0] for r in rows]

    def kinds(self, namespace: str = "", app: Optional[str] = None) -> List[str]:
        """The kinds of a namespace (of `app`, or of any app)."""
        with self.storage.read() as conn:
            rows = conn.execute(
                "SELECT DISTINCT kind FROM datastore_entities WHERE namespace = ? AND (? IS NULL OR app = ?) "
                "ORDER BY kind", (namespace, app, app)).fetchall()
        return [r[0] for r in rows]

    def list_entities(self, kind: str, namespace: str = "", offset: int = 0,
                      limit: int = 20) -> Tuple[List[Entity], int]:
        """One page of a kind in key order, and the kind's total (for an admin viewer)."""
        entities = sorted(self._candidates(Query(kind=kind, namespace=namespace), None), key=lambda e: e.key)
        return entities[offset:offset + limit], len(entities)

    def reset(self) -> None:
        """Delete every entity (the id counters stay, so ids are still never reused)."""
        with self.storage.transaction() as conn:
            conn.execute("DELETE FROM datastore_entities")
            conn.execute("DELETE FROM datastore_groups")
        with self._lock:
            self._transactions.clear()
