"""`Key`: an entity's identity (app, namespace, and a path of (kind, id or name) pairs).

One class serves the service and the client API (`gae_emu.ext.db.Key` is this class), with the
method names of App Engine's `datastore_types.Key`: `from_path`, `kind()`, `id()`, `name()`,
`parent()`, `app()`, `namespace()`, ... Keys are immutable, hashable, picklable (deferred tasks
carry them) and ordered as App Engine orders them: app, namespace, then path element by element
(kind, then ids before names). `str(key)` is App Engine's urlsafe Reference encoding.

A key whose last element has neither id nor name is *incomplete*; `put` completes it.

Imports: the standard library, `.errors`, `.reference`; `gae_emu.apiproxy` lazily, only to fill a
missing app id the way App Engine fills it from the running app's environment.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union

from gae_emu.services.datastore import reference
from gae_emu.services.datastore.errors import BadArgumentError, BadKeyError, BadValueError

IdOrName = Union[int, str, None]
Path = Tuple[Tuple[str, IdOrName], ...]


def _default_app() -> str:
    from gae_emu import apiproxy  # late: the service itself never needs it

    return apiproxy.current().app_id


def _default_namespace() -> str:
    return ""


class Key:
    """An App Engine datastore key."""

    __slots__ = ("_app", "_namespace", "_path", "_hash")

    def __init__(self, encoded: Union[str, bytes, None] = None) -> None:
        """`Key()` is empty; `Key(encoded)` decodes `str(key)` (App Engine's urlsafe form)."""
        self._hash: Optional[int] = None
        if encoded is None:
            self._app, self._namespace, self._path = "", "", ()
            return
        if not isinstance(encoded, (str, bytes)):
            raise BadArgumentError(
                "Key() expects a string; received %r (a %s)." % (encoded, type(encoded).__name__)
            )
        try:
            app, namespace, path = reference.decode_reference(reference.from_urlsafe(encoded))
        except reference.DecodeError as e:
            raise BadKeyError("Invalid string key %s. Details: %s" % (encoded, e)) from None
        self._app, self._namespace, self._path = app, namespace, path

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def build(cls, app: str, namespace: str, path: Sequence[Tuple[str, IdOrName]]) -> "Key":
        """A key from its parts, unchecked apart from shape (the service's constructor)."""
        key = cls.__new__(cls)
        key._app, key._namespace = app, namespace or ""
        key._path = tuple((str(kind), id_or_name) for kind, id_or_name in path)
        key._hash = None
        return key

    @classmethod
    def from_path(cls, *args: Any, parent: Optional["Key"] = None, namespace: Optional[str] = None,
                  _app: Optional[str] = None) -> "Key":
        """`Key.from_path('Parent', 1, 'Child', 'name', parent=None, namespace=None)`."""
        if not args or len(args) % 2:
            raise BadArgumentError(
                "A non-zero even number of positional arguments is required (kind, id or name, "
                "kind, id or name, ...); received %r" % (args,)
            )
        if parent is not None:
            if not isinstance(parent, Key):
                raise BadArgumentError(
                    "Expected None or a Key as parent; received %r (a %s)." % (parent, type(parent).__name__)
                )
            if not parent.has_id_or_name():
                raise BadKeyError("The parent Key is incomplete.")
            app = parent.app() if _app is None else _app
            ns = parent.namespace() if namespace is None else namespace
            if app != parent.app() or ns != parent.namespace():
                raise BadArgumentError(
                    "The app/namespace arguments (%s/%s) should match parent.app/namespace() (%s/%s)"
                    % (app, ns, parent.app(), parent.namespace())
                )
            path: List[Tuple[str, IdOrName]] = list(parent._path)
        else:
            app = _default_app() if _app is None else _app
            ns = _default_namespace() if namespace is None else namespace
            path = []
        for i in range(0, len(args), 2):
            kind, id_or_name = args[i], args[i + 1]
            if not isinstance(kind, str):
                raise BadArgumentError(
                    "Expected a string kind as argument %d; received %r (a %s)." % (i + 1, kind, type(kind).__name__)
                )
            if isinstance(id_or_name, bool) or not isinstance(id_or_name, (int, str)):
                raise BadArgumentError(
                    "Expected an integer id or string name as argument %d; received %r (a %s)."
                    % (i + 2, id_or_name, type(id_or_name).__name__)
                )
            if isinstance(id_or_name, str) and not id_or_name:
                raise BadValueError("name must not be empty.")
            path.append((kind, id_or_name))
        return cls.build(app, ns, path)

    def with_id(self, new_id: int) -> "Key":
        """This incomplete key completed with `new_id`."""
        kind, _ = self._path[-1]
        return self.build(self._app, self._namespace, self._path[:-1] + ((kind, new_id),))

    # -- App Engine accessors -----------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    def app(self) -> str:
        return self._app

    def namespace(self) -> str:
        return self._namespace

    def kind(self) -> Optional[str]:
        return self._path[-1][0] if self._path else None

    def id(self) -> Optional[int]:
        value = self._path[-1][1] if self._path else None
        return value if isinstance(value, int) and value else None

    def name(self) -> Optional[str]:
        value = self._path[-1][1] if self._path else None
        return value if isinstance(value, str) and value else None

    def id_or_name(self) -> IdOrName:
        return self.id() if self.id() is not None else self.name()

    def has_id_or_name(self) -> bool:
        return bool(self._path) and bool(self._path[-1][1])

    is_complete = has_id_or_name

    def parent(self) -> Optional["Key"]:
        if len(self._path) < 2:
            return None
        return self.build(self._app, self._namespace, self._path[:-1])

    def root(self) -> "Key":
        """The entity group: the key of the path's first element."""
        return self.build(self._app, self._namespace, self._path[:1])

    entity_group = root

    def to_path(self) -> List[IdOrName]:
        if not self.has_id_or_name() and self._path:
            raise BadKeyError("Incomplete key found in to_path")
        return [part for element in self._path for part in element]

    def is_ancestor_of(self, other: "Key") -> bool:
        """True when `other` is this key or lies under it."""
        return (self._app, self._namespace) == (other._app, other._namespace) and \
            other._path[:len(self._path)] == self._path

    # -- encodings ----------------------------------------------------------------------------

    def to_reference(self) -> bytes:
        return reference.encode_reference(self._app, self._namespace, self._path)

    def __str__(self) -> str:
        if not self.has_id_or_name():
            raise BadKeyError("Cannot string encode an incomplete key!\n%r" % (self,))
        return reference.to_urlsafe(self.to_reference())

    urlsafe = __str__

    def __repr__(self) -> str:
        args = [repr(part) for kind, id_or_name in self._path for part in (kind, id_or_name)]
        args.append("_app=%r" % self._app)
        if self._namespace:
            args.append("namespace=%r" % self._namespace)
        return "datastore_types.Key.from_path(%s)" % ", ".join(args)

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild_key, (self._app, self._namespace, self._path))

    # -- identity and order -------------------------------------------------------------------

    def sort_key(self) -> Tuple[Any, ...]:
        elements = tuple(
            (kind, 1, v) if isinstance(v, str) else (kind, 0, v or 0) for kind, v in self._path
        )
        return (self._app, self._namespace, elements)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Key):
            return NotImplemented
        return (self._app, self._namespace, self._path) == (other._app, other._namespace, other._path)

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash((self._app, self._namespace, self._path))
        return self._hash

    def __lt__(self, other: "Key") -> bool:
        return self.sort_key() < other.sort_key()

    def __le__(self, other: "Key") -> bool:
        return self.sort_key() <= other.sort_key()

    def __gt__(self, other: "Key") -> bool:
        return self.sort_key() > other.sort_key()

    def __ge__(self, other: "Key") -> bool:
        return self.sort_key() >= other.sort_key()


def _rebuild_key(app: str, namespace: str, path: Path) -> Key:
    return Key.build(app, namespace, path)
