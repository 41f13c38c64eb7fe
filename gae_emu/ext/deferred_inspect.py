"""Describing a `deferred` task payload without executing it, for the admin console.

A deferred payload is `pickle.dumps((callable, args, kwargs))`. Unpickling runs whatever the pickle
names (any importable callable, with any arguments), and task payloads are user data, so the console
never calls `pickle.loads`. Instead `describe()` walks the opcodes with `pickletools.genops` (which
only decodes them) and replays the pickle machine's stack *symbolically*: a GLOBAL becomes a
`Global` naming `module.name` (nothing is imported), a REDUCE/NEWOBJ/INST/OBJ becomes a `Call`
(nothing is called), literals stay literals. The result is rendered as Python-like text.

Imports: the standard library only.
"""
from __future__ import annotations

import pickletools
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

MAX_RENDER = 300  # characters of one rendered value (payloads can hold megabytes of data)
MAX_DEPTH = 12  # nesting rendered before "..." (also stops self-referencing containers)
INVOKE_MEMBER = ("ext.deferred.invoke_member", ".deferred.deferred.invoke_member")


class PayloadError(ValueError):
    """The payload is not a pickle this inspector understands."""


@dataclass
class Global:
    """`module.name` as the pickle names it; never imported."""

    module: str
    name: str

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass
class Call:
    """`func(*args, **kwargs)` that unpickling would call, plus BUILD state if any."""

    func: Any
    args: Any = ()
    kwargs: Any = None
    state: Any = None
    items: List[Any] = field(default_factory=list)  # APPENDS/SETITEMS onto a list or dict subclass


@dataclass
class Pairs:
    """A dict or set under construction; keys may be unhashable symbolic objects."""

    kind: str  # "dict", "set" or "frozenset"
    items: List[Any] = field(default_factory=list)


class Opaque(str):
    """Something with no literal form (a persistent id, an out-of-band buffer)."""


_MARK = object()
_LITERAL_OPS = {
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
    "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BYTEARRAY8",
}
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_IGNORED = {"PROTO", "FRAME"}


def _pop_mark(stack: List[Any]) -> List[Any]:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is _MARK:
            items = stack[i + 1:]
            del stack[i:]
            return items
    raise PayloadError("MARK expected")


def _items(target: Any) -> List[Any]:
    """Where APPEND(S)/SETITEM(S)/ADDITEMS put their values on `target`."""
    if isinstance(target, list):
        return target
    if isinstance(target, (Pairs, Call)):
        return target.items
    raise PayloadError(f"cannot add items to {type(target).__name__}")


def _build_call(stack: List[Any], name: str, arg: Any) -> None:
    if name == "REDUCE" or name == "NEWOBJ":
        args = stack.pop()
        stack.append(Call(stack.pop(), args))
    elif name == "NEWOBJ_EX":
        kwargs, args = stack.pop(), stack.pop()
        stack.append(Call(stack.pop(), args, kwargs))
    elif name == "INST":
        module, _, attr = arg.partition(" ")
        stack.append(Call(Global(module, attr), tuple(_pop_mark(stack))))
    elif name == "OBJ":
        items = _pop_mark(stack)
        if not items:
            raise PayloadError("OBJ without a class")
        stack.append(Call(items[0], tuple(items[1:])))
    elif name == "BUILD":
        state = stack.pop()
        target = stack[-1]
        if isinstance(target, Call):
            target.state = state
        else:
            stack[-1] = Call(Global("builtins", "setstate"), (target,), state=state)


def _step(stack: List[Any], memo: Dict[Any, Any], name: str, arg: Any) -> None:
    """Apply one opcode to the symbolic stack."""
    if name in _LITERAL_OPS:
        stack.append(bytes(arg) if isinstance(arg, bytearray) else arg)
    elif name in _CONSTANTS:
        stack.append(_CONSTANTS[name])
    elif name == "MARK":
        stack.append(_MARK)
    elif name in ("EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3"):
        count = {"EMPTY_TUPLE": 0, "TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}.get(name)
        if count is None:
            stack.append(tuple(_pop_mark(stack)))
        else:
            items = stack[len(stack) - count:] if count else []
            del stack[len(stack) - count:]
            stack.append(tuple(items))
    elif name == "EMPTY_LIST":
        stack.append([])
    elif name == "LIST":
        stack.append(_pop_mark(stack))
    elif name == "APPEND":
        value = stack.pop()
        _items(stack[-1]).append(value)
    elif name == "APPENDS":
        items = _pop_mark(stack)
        _items(stack[-1]).extend(items)
    elif name in ("EMPTY_DICT", "DICT"):
        items = _pop_mark(stack) if name == "DICT" else []
        stack.append(Pairs("dict", list(zip(items[::2], items[1::2]))))
    elif name == "SETITEM":
        value, key = stack.pop(), stack.pop()
        _items(stack[-1]).append((key, value))
    elif name == "SETITEMS":
        items = _pop_mark(stack)
        _items(stack[-1]).extend(zip(items[::2], items[1::2]))
    elif name == "EMPTY_SET":
        stack.append(Pairs("set"))
    elif name == "ADDITEMS":
        items = _pop_mark(stack)
        _items(stack[-1]).extend(items)
    elif name == "FROZENSET":
        stack.append(Pairs("frozenset", _pop_mark(stack)))
    elif name == "POP":
        stack.pop()
    elif name == "POP_MARK":
        _pop_mark(stack)
    elif name == "DUP":
        stack.append(stack[-1])
    elif name in ("GET", "BINGET", "LONG_BINGET"):
        if arg not in memo:
            raise PayloadError(f"memo entry {arg} missing")
        stack.append(memo[arg])
    elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
        memo[arg] = stack[-1]
    elif name == "MEMOIZE":
        memo[len(memo)] = stack[-1]
    elif name == "GLOBAL":
        module, _, attr = arg.partition(" ")
        stack.append(Global(module, attr))
    elif name == "STACK_GLOBAL":
        attr, module = stack.pop(), stack.pop()
        stack.append(Global(str(module), str(attr)))
    elif name in ("EXT1", "EXT2", "EXT4"):
        stack.append(Global("copyreg.extension", str(arg)))
    elif name in ("PERSID", "BINPERSID"):
        if name == "BINPERSID":
            stack.pop()
        stack.append(Opaque("<persistent id>"))
    elif name == "NEXT_BUFFER":
        stack.append(Opaque("<out-of-band buffer>"))
    elif name == "READONLY_BUFFER":
        pass
    elif name in ("REDUCE", "NEWOBJ", "NEWOBJ_EX", "INST", "OBJ", "BUILD"):
        _build_call(stack, name, arg)
    else:
        raise PayloadError(f"unsupported opcode {name}")


def symbolic_load(payload: bytes) -> Any:
    """The pickle's object as symbolic values (Global, Call, Pairs, literals); nothing executed."""
    stack: List[Any] = []
    memo: Dict[Any, Any] = {}
    try:
        for opcode, arg, _ in pickletools.genops(payload):
            if opcode.name == "STOP":
                if len(stack) != 1:
                    raise PayloadError("malformed pickle (stack not balanced at STOP)")
                return stack[0]
            if opcode.name not in _IGNORED:
                _step(stack, memo, opcode.name, arg)
    except PayloadError:
        raise
    except (ValueError, IndexError, AttributeError, TypeError) as exc:
        raise PayloadError(f"not a readable pickle: {exc}") from None
    raise PayloadError("pickle has no STOP opcode")


def render(value: Any, limit: int = MAX_RENDER) -> str:
    """Python-like text for a symbolic value, at most about `limit` characters."""
    text = _Renderer(limit).render(value, 0)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class _Renderer:
    """Renders with a character budget: memo references can make a small pickle describe an
    exponentially large object ("billion laughs"), so work stops once the budget is spent."""

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def leaf(self, text: str) -> str:
        self.budget -= max(1, len(text))
        return text

    def join(self, values: Any, depth: int, pairs: bool = False) -> str:
        parts: List[str] = []
        for item in values:
            if self.budget <= 0:
                parts.append("...")
                break
            if pairs:
                key, val = item
                parts.append(f"{self.render(key, depth)}: {self.render(val, depth)}")
            else:
                parts.append(self.render(item, depth))
        return ", ".join(parts)

    def render(self, value: Any, depth: int) -> str:
        if depth > MAX_DEPTH or self.budget <= 0:
            return "..."
        inner = depth + 1
        if isinstance(value, Global):
            return self.leaf(value.dotted)
        if isinstance(value, Opaque):
            return self.leaf(str(value))
        if isinstance(value, Call):
            key = _as_key(value)
            if key is not None:
                return self.leaf(key)
            args = value.args if isinstance(value.args, tuple) else (value.args,)
            text = f"{self.render(value.func, inner)}({self.join(args, inner)}"
            if isinstance(value.kwargs, Pairs):
                named = ", ".join(f"{_key_text(k)}={self.render(v, inner)}" for k, v in value.kwargs.items[:20])
                text += (", " if args else "") + named
            text += ")"
            if value.items:
                text += " with items [" + self.join(value.items, inner) + "]"
            return text if value.state is None else f"{text} with state {self.render(value.state, inner)}"
        if isinstance(value, Pairs):
            if value.kind == "dict":
                return self.leaf("{") + self.join(value.items, inner, pairs=True) + "}"
            body = self.join(value.items, inner)
            return f"{value.kind}({{{body}}})" if value.kind == "frozenset" or not body else "{" + body + "}"
        if isinstance(value, list):
            return self.leaf("[") + self.join(value, inner) + "]"
        if isinstance(value, tuple):
            body = self.join(value, inner)
            self.leaf("()")
            return f"({body},)" if len(value) == 1 else f"({body})"
        text = repr(value)
        return self.leaf(text if len(text) <= MAX_RENDER else text[:MAX_RENDER - 3] + "...")


_KEY_REBUILDERS = ("gae_emu.services.datastore.keys._rebuild_key", "google.appengine.ext.ndb.key.Key")


def _as_key(call: Call) -> Optional[str]:
    """`Key('MyModel', 'counter')` for a pickled datastore key (gae-emu's, or ndb's from Google's
    library), as the user wrote it; None for anything else."""
    if not isinstance(call.func, Global) or call.func.dotted not in _KEY_REBUILDERS:
        return None
    args = call.args if isinstance(call.args, tuple) else (call.args,)
    if call.func.name == "_rebuild_key" and len(args) == 3:
        namespace, path = _plain(args[1]), args[2]
    elif len(args) == 1 and isinstance(args[0], Pairs):
        fields = {_plain(k): v for k, v in args[0].items}
        namespace, path = _plain(fields.get("namespace", "")), fields.get("pairs")
    else:
        return None
    if not isinstance(path, (tuple, list)) or not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in path):
        return None
    parts = [repr(_plain(item)) for pair in path for item in pair]
    if namespace:
        parts.append(f"namespace={namespace!r}")
    text = f"Key({', '.join(parts)})"
    return text if len(text) <= MAX_RENDER else None


def _plain(value: Any) -> Any:
    """A str for the forms Python 2 pickles strings in (`_codecs.encode(s, 'latin1')`, `bytes()`)."""
    if isinstance(value, Call) and isinstance(value.func, Global):
        args = value.args if isinstance(value.args, tuple) else (value.args,)
        if value.func.dotted == "_codecs.encode" and args and isinstance(args[0], str):
            return args[0]
        if value.func.name == "bytes" and not args:
            return ""
    if isinstance(value, bytes):
        return value.decode("latin1")
    return value


def _key_text(key: Any) -> str:
    return key if isinstance(key, str) else render(key, 60)


def describe(payload: bytes) -> Dict[str, Any]:
    """{"callable": "module.name", "args": [text...], "kwargs": {name: text}} for a deferred payload.

    Bound methods travel as `invoke_member(obj, "name", *args)`; they are shown as `obj.name`.
    Raises PayloadError for anything that is not a deferred `(callable, args, kwargs)` pickle."""
    loaded = symbolic_load(payload)
    if not (isinstance(loaded, tuple) and len(loaded) == 3):
        raise PayloadError("not a deferred payload (expected a (callable, args, kwargs) tuple)")
    func, args, kwargs = loaded
    args = list(args) if isinstance(args, (tuple, list)) else [args]
    if isinstance(func, Global) and func.dotted.endswith(INVOKE_MEMBER) and len(args) >= 2:
        target, member, args = args[0], args[1], args[2:]
        callable_text = f"{render(target)}.{member if isinstance(member, str) else render(member)}"
    else:
        callable_text = render(func)
    kwargs_text: Dict[str, str] = {}
    if isinstance(kwargs, Pairs):
        kwargs_text = {_key_text(k): render(v) for k, v in kwargs.items}
    return {"callable": callable_text, "args": [render(a) for a in args], "kwargs": kwargs_text}


def try_describe(payload: bytes) -> Optional[Dict[str, Any]]:
    """`describe`, or {"error": why} when the payload cannot be read (never raises)."""
    try:
        return describe(payload)
    except PayloadError as exc:
        return {"callable": None, "args": [], "kwargs": {}, "error": str(exc)}
    except Exception as exc:  # a hostile pickle must never take the console down
        return {"callable": None, "args": [], "kwargs": {}, "error": f"unreadable payload: {type(exc).__name__}"}
