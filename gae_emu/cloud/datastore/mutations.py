"""A v1 `Commit`'s mutations applied through the service: insert (ALREADY_EXISTS when the entity
exists), update (NOT_FOUND when it does not), upsert and delete, in order, inside one service
transaction so the existence checks and the writes are atomic.

A NON_TRANSACTIONAL commit uses a transaction of its own, retried when it loses a race (production
applies such a commit atomically too, and never answers ABORTED for it); one that touches more
entity groups than a transaction may (25) writes without it. No two of its mutations may name the
same entity, as production requires.

Imports: the standard library, `gae_emu.services.datastore`, this package.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from gae_emu.cloud.datastore.errors import CloudError, invalid
from gae_emu.cloud.datastore.values import complete_key, entity_from_pb, key_from_pb
from gae_emu.services.datastore import (
    MAX_ENTITY_GROUPS_PER_XG_TXN, DatastoreService, Entity, Key, Transaction, TransactionFailedError,
)

NON_TRANSACTIONAL_ATTEMPTS = 5


@dataclass
class Write:
    """One mutation: its operation, the entity (or the key, for delete), and where it was sent."""

    op: str
    key: Key
    entity: Optional[Entity]
    where: str
    allocated: bool = False  # the key was incomplete: the result reports the allocated one


def parse(mutations: Any, project: str, database: str) -> List[Write]:
    writes = []
    for i, m in enumerate(mutations):
        op = m.WhichOneof("operation")
        where = f"mutations[{i}].{op}"
        if op is None:
            raise invalid(f"mutations[{i}]: a mutation needs insert, update, upsert or delete")
        unsupported = [name for name in ("base_version", "update_time") if m.HasField(name)]
        unsupported += [name for name in ("property_mask",) if m.HasField(name)]
        if m.property_transforms:
            unsupported.append("property_transforms")
        if unsupported:
            raise CloudError("UNIMPLEMENTED", f"mutations[{i}]: {', '.join(unsupported)} is not supported by gae-emu yet")
        if op == "delete":
            key = complete_key(key_from_pb(m.delete, project, database, where), where)
            writes.append(Write(op, key, None, where))
            continue
        entity = entity_from_pb(getattr(m, op), project, database, where)
        if op == "update":
            complete_key(entity.key, where + ".key")
        writes.append(Write(op, entity.key, entity, where, allocated=not entity.key.has_id_or_name()))
    return writes


def _check_distinct(writes: List[Write]) -> None:
    seen: Dict[Key, str] = {}
    for w in writes:
        if w.key.has_id_or_name():
            if w.key in seen:
                raise invalid(f"{w.where}: a non-transactional commit may not contain multiple mutations "
                              f"affecting the same entity ({seen[w.key]} names it too)")
            seen[w.key] = w.where


def apply(service: DatastoreService, writes: List[Write], txn: Transaction) -> List[Key]:
    """Buffer `writes` in `txn` (checking existence for insert and update); the final keys."""
    exists: Dict[Key, bool] = {}
    checked = [w.key for w in writes if w.op in ("insert", "update") and w.key.has_id_or_name()]
    if checked:
        found = service.get(list(dict.fromkeys(checked)), txn)
        exists.update({k: e is not None for k, e in zip(dict.fromkeys(checked), found)})
    keys = []
    for w in writes:
        if w.op == "insert" and exists.get(w.key):
            raise CloudError("ALREADY_EXISTS", f"{w.where}: entity already exists: {_describe(w.key)}")
        if w.op == "update" and not exists.get(w.key):
            raise CloudError("NOT_FOUND", f"{w.where}: no entity to update: {_describe(w.key)}")
        if w.op == "delete":
            service.delete([w.key], txn)
            exists[w.key] = False
            keys.append(w.key)
        else:
            assert w.entity is not None
            (key,) = service.put([w.entity], txn)
            exists[key] = True
            keys.append(key)
    return keys


def apply_non_transactional(service: DatastoreService, writes: List[Write]) -> List[Key]:
    _check_distinct(writes)
    if all(w.op in ("upsert", "delete") for w in writes) or \
            len({w.key.root() for w in writes}) > MAX_ENTITY_GROUPS_PER_XG_TXN:
        return _direct(service, writes)
    for attempt in range(NON_TRANSACTIONAL_ATTEMPTS):
        txn = service.begin_transaction(xg=True)
        try:
            keys = apply(service, writes, txn)
            service.commit(txn)
            return keys
        except TransactionFailedError:
            if attempt + 1 == NON_TRANSACTIONAL_ATTEMPTS:
                raise
        finally:
            service.rollback(txn)
    raise AssertionError("unreachable")


def _direct(service: DatastoreService, writes: List[Write]) -> List[Key]:
    """Writes without a transaction: inserts and updates are checked first (not atomically)."""
    checked = [w.key for w in writes if w.op in ("insert", "update") and w.key.has_id_or_name()]
    found = dict(zip(checked, service.get(checked))) if checked else {}
    for w in writes:
        if w.op == "insert" and found.get(w.key) is not None:
            raise CloudError("ALREADY_EXISTS", f"{w.where}: entity already exists: {_describe(w.key)}")
        if w.op == "update" and found.get(w.key) is None:
            raise CloudError("NOT_FOUND", f"{w.where}: no entity to update: {_describe(w.key)}")
    puts = [w.entity for w in writes if w.entity is not None]
    put_keys = iter(service.put(puts)) if puts else iter(())
    deletes = [w.key for w in writes if w.op == "delete"]
    if deletes:
        service.delete(deletes)
    return [w.key if w.op == "delete" else next(put_keys) for w in writes]


def _describe(key: Key) -> str:
    path = ", ".join(f"{kind}: {value!r}" for kind, value in key.path)
    ns = f" namespace {key.namespace()!r}" if key.namespace() else ""
    return f"[{path}]{ns}"
