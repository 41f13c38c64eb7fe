"""GQL (Cloud Datastore's query language) as a v1 `Query` or `AggregationQuery` message, which the
ordinary query path then runs: the parser only translates, never evaluates.

    SELECT [DISTINCT] [DISTINCT ON (p, ...)] {* | __key__ | p, ...} [FROM kind]
      [WHERE cond {AND|OR} cond ...]   conditions may be parenthesized
      [ORDER BY p [ASC|DESC], ...] [LIMIT [offset,] count] [OFFSET offset]
    cond:  p {= | != | < | <= | > | >=} value | p IS NULL | p [NOT] IN list | p CONTAINS value
           | p HAS ANCESTOR key | key HAS DESCENDANT __key__
    AGGREGATE {COUNT(*) | COUNT_UP_TO(n) | SUM(p) | AVG(p)} [AS alias], ... OVER ( SELECT ... )
    SELECT COUNT(*) [AS alias] FROM ...  (the short form of one count)

Values: @name and @1 bindings (named_bindings, positional_bindings: a value, or a cursor for
LIMIT/OFFSET, which become the end/start cursor), and literals unless `allow_literals` is false:
'strings', integers, doubles, TRUE/FALSE, NULL, KEY(kind, id_or_name, ...), DATETIME('ISO 8601'),
BLOB('bytes'), ARRAY(v, ...) or (v, ...).

Imports: the standard library, this package.
"""
from __future__ import annotations

import datetime
import re
from typing import Any, List, Optional, Tuple

from gae_emu.cloud.datastore.errors import invalid
from gae_emu.cloud.datastore.protos import pb

TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
  | (?P<quoted>`(?:[^`]|``)*`)
  | (?P<number>[-+]?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\.\d+|\d+))
  | (?P<binding>@(?:\d+|[A-Za-z_][A-Za-z_0-9$]*))
  | (?P<op><=|>=|!=|=|<|>|\(|\)|,|\*|\+)
  | (?P<name>[A-Za-z_$][A-Za-z_0-9$.]*)
)""", re.VERBOSE)
OPERATORS = {"=": 5, "<": 1, "<=": 2, ">": 3, ">=": 4, "!=": 9}
IN, NOT_IN, HAS_ANCESTOR = 6, 13, 11
AND, OR = 1, 2


def _tokens(text: str) -> List[Tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise invalid(f"gql_query.query_string: cannot parse at character {pos + 1}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, gql: Any, project: str, database: str, namespace: str) -> None:
        self.gql, self.project, self.database, self.namespace = gql, project, database, namespace
        self.tokens = _tokens(gql.query_string)
        self.i = 0

    # -- tokens --------------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> Tuple[str, str]:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else ("end", "")

    def keyword(self, *words: str) -> bool:
        """Consume the keywords `words` if they come next (case-insensitive)."""
        for n, word in enumerate(words):
            kind, text = self.peek(n)
            if kind != "name" or text.upper() != word:
                return False
        self.i += len(words)
        return True

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            self.fail(f"expected {word}")

    def symbol(self, sym: str) -> bool:
        if self.peek() == ("op", sym):
            self.i += 1
            return True
        return False

    def expect(self, sym: str) -> None:
        if not self.symbol(sym):
            self.fail(f"expected {sym!r}")

    def fail(self, message: str) -> None:
        kind, text = self.peek()
        where = f"at {text!r}" if kind != "end" else "at the end"
        raise invalid(f"gql_query.query_string: {message} {where} (token {self.i + 1})")

    def identifier(self) -> str:
        kind, text = self.peek()
        if kind == "quoted":
            self.i += 1
            return text[1:-1].replace("``", "`")
        if kind == "name":
            self.i += 1
            return text
        self.fail("expected a name")
        raise AssertionError

    # -- values --------------------------------------------------------------------------------
    def binding(self, text: str) -> Any:
        name = text[1:]
        if name.isdigit():
            index = int(name)
            if not 1 <= index <= len(self.gql.positional_bindings):
                raise invalid(f"gql_query.positional_bindings: no binding @{index} "
                              f"({len(self.gql.positional_bindings)} given)")
            return self.gql.positional_bindings[index - 1]
        if name not in self.gql.named_bindings:
            raise invalid(f"gql_query.named_bindings: no binding named {name!r}")
        return self.gql.named_bindings[name]

    def literal_allowed(self) -> None:
        if not self.gql.allow_literals:
            self.fail("literals are not allowed (allow_literals is false); use a binding")

    def value(self, target: Any) -> None:
        kind, text = self.peek()
        if kind == "binding":
            self.i += 1
            param = self.binding(text)
            if param.WhichOneof("parameter_type") != "value":
                raise invalid(f"gql_query: binding {text} is a cursor where a value is needed")
            target.CopyFrom(param.value)
            return
        self.literal_allowed()
        if kind == "string":
            self.i += 1
            target.string_value = _unquote(text)
        elif kind == "number":
            self.i += 1
            if re.fullmatch(r"[-+]?\d+", text):
                target.integer_value = int(text)
            else:
                target.double_value = float(text)
        elif self.keyword("TRUE") or self.keyword("FALSE"):
            target.boolean_value = self.tokens[self.i - 1][1].upper() == "TRUE"
        elif self.keyword("NULL"):
            target.null_value = 0
        elif self.keyword("KEY"):
            self.key(target.key_value)
        elif self.keyword("DATETIME"):
            self.expect("(")
            stamp = self.string()
            self.expect(")")
            try:
                when = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            except ValueError:
                raise invalid(f"gql_query.query_string: DATETIME({stamp!r}) is not an ISO 8601 time") from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=datetime.timezone.utc)
            target.timestamp_value.FromDatetime(when)
        elif self.keyword("BLOB"):
            self.expect("(")
            target.blob_value = self.string().encode("utf-8")
            self.expect(")")
        elif self.keyword("ARRAY") or self.peek() == ("op", "("):
            self.list_value(target)
        else:
            self.fail("expected a value")

    def list_value(self, target: Any) -> None:
        self.expect("(")
        target.array_value.SetInParent()
        if not self.symbol(")"):
            while True:
                self.value(target.array_value.values.add())
                if self.symbol(")"):
                    break
                self.expect(",")

    def string(self) -> str:
        kind, text = self.peek()
        if kind != "string":
            self.fail("expected a quoted string")
        self.i += 1
        return _unquote(text)

    def key(self, message: Any) -> None:
        self.expect("(")
        message.partition_id.project_id = self.project
        if self.database:
            message.partition_id.database_id = self.database
        message.partition_id.namespace_id = self.namespace
        while True:
            if self.keyword("PROJECT"):
                self.expect("(")
                message.partition_id.project_id = self.string()
                self.expect(")")
            elif self.keyword("NAMESPACE"):
                self.expect("(")
                message.partition_id.namespace_id = self.string()
                self.expect(")")
            else:
                element = message.path.add(kind=self.identifier() if self.peek()[0] != "string" else self.string())
                self.expect(",")
                kind, text = self.peek()
                if kind == "number" and text.lstrip("+").isdigit():
                    self.i += 1
                    element.id = int(text)
                else:
                    element.name = self.string()
            if self.symbol(")"):
                return
            self.expect(",")

    # -- the query -----------------------------------------------------------------------------
    def select(self, query: Any) -> None:
        self.expect_keyword("SELECT")
        if self.keyword("DISTINCT", "ON"):
            self.expect("(")
            for name in self.names():
                query.distinct_on.add(name=name)
            self.expect(")")
            distinct = False
        else:
            distinct = self.keyword("DISTINCT")
        if not self.symbol("*"):
            names = self.names()
            for name in names:
                query.projection.add().property.name = name
            if distinct:
                for name in names:
                    query.distinct_on.add(name=name)
        self.clauses(query)

    def clauses(self, query: Any) -> None:
        """FROM, WHERE, ORDER BY, LIMIT and OFFSET."""
        if self.keyword("FROM"):
            query.kind.add(name=self.identifier())
        if self.keyword("WHERE"):
            self.condition_or(query.filter)
        if self.keyword("ORDER", "BY"):
            while True:
                order = query.order.add()
                order.property.name = self.identifier()
                order.direction = 2 if self.keyword("DESC") else 1
                self.keyword("ASC")
                if not self.symbol(","):
                    break
        if self.keyword("LIMIT"):
            first = self.count_or_cursor(query, "limit")
            if self.symbol(","):
                self.apply_offset(query, first)
                self.apply_limit(query, self.count_or_cursor(query, "limit"))
            else:
                self.apply_limit(query, first)
        if self.keyword("OFFSET"):
            self.apply_offset(query, self.count_or_cursor(query, "offset"))
            if self.symbol("+"):
                kind, text = self.peek()
                if kind != "number":
                    self.fail("expected a number after +")
                self.i += 1
                query.offset = int(text)

    def names(self) -> List[str]:
        names = [self.identifier()]
        while self.symbol(","):
            names.append(self.identifier())
        return names

    def count_or_cursor(self, query: Any, what: str) -> Any:
        kind, text = self.peek()
        if kind == "binding":
            self.i += 1
            param = self.binding(text)
            if param.WhichOneof("parameter_type") == "cursor":
                return param.cursor
            if param.value.WhichOneof("value_type") != "integer_value":
                raise invalid(f"gql_query: binding {text} for {what.upper()} must be an integer or a cursor")
            return param.value.integer_value
        if kind == "number" and text.lstrip("+").isdigit():
            self.i += 1
            self.literal_allowed()
            return int(text)
        self.fail(f"expected a number or binding for {what.upper()}")

    @staticmethod
    def apply_limit(query: Any, value: Any) -> None:
        if isinstance(value, bytes):
            query.end_cursor = value
        else:
            query.limit.value = value

    @staticmethod
    def apply_offset(query: Any, value: Any) -> None:
        if isinstance(value, bytes):
            query.start_cursor = value
        else:
            query.offset = value

    def condition_or(self, target: Any) -> None:
        self.combined(target, "OR", OR, self.condition_and)

    def condition_and(self, target: Any) -> None:
        self.combined(target, "AND", AND, self.condition)

    @staticmethod
    def _single(parts: List[Any], target: Any, op: int) -> None:
        if len(parts) == 1:
            target.CopyFrom(parts[0])
        else:
            target.composite_filter.op = op
            for part in parts:
                target.composite_filter.filters.add().CopyFrom(part)

    def combined(self, target: Any, word: str, op: int, parse: Any) -> None:
        parts = []
        while True:
            part = pb().Filter()
            parse(part)
            parts.append(part)
            if not self.keyword(word):
                break
        self._single(parts, target, op)

    def condition(self, target: Any) -> None:
        if self.symbol("("):
            self.condition_or(target)
            self.expect(")")
            return
        f = target.property_filter
        kind, text = self.peek()
        if kind == "binding" or (kind == "name" and text.upper() == "KEY" and self.peek(1) == ("op", "(")):
            self.value(f.value)  # key HAS DESCENDANT __key__
            self.expect_keyword("HAS")
            self.expect_keyword("DESCENDANT")
            f.property.name = self.identifier()
            f.op = HAS_ANCESTOR
            return
        f.property.name = self.identifier()
        kind, text = self.peek()
        if kind == "op" and text in OPERATORS:
            self.i += 1
            f.op = OPERATORS[text]
            self.value(f.value)
        elif self.keyword("IS", "NULL"):
            f.op = OPERATORS["="]
            f.value.null_value = 0
        elif self.keyword("NOT", "IN"):
            f.op = NOT_IN
            self.value(f.value)
        elif self.keyword("IN"):
            f.op = IN
            self.value(f.value)
        elif self.keyword("CONTAINS"):
            f.op = OPERATORS["="]
            self.value(f.value)
        elif self.keyword("HAS", "ANCESTOR"):
            f.op = HAS_ANCESTOR
            self.value(f.value)
        else:
            self.fail("expected a comparison")

    def aggregation(self, message: Any) -> None:
        """AGGREGATE ... OVER (SELECT ...), or SELECT COUNT(*) ... (the cursor is at SELECT/AGGREGATE)."""
        if self.keyword("AGGREGATE"):
            while True:
                self.aggregate(message.aggregations.add())
                if not self.symbol(","):
                    break
            self.expect_keyword("OVER")
            self.expect("(")
            self.select(message.nested_query)
            self.expect(")")
            return
        self.expect_keyword("SELECT")
        self.aggregate(message.aggregations.add())
        self.clauses(message.nested_query)

    def aggregate(self, aggregation: Any) -> None:
        if self.keyword("COUNT"):
            self.expect("(")
            self.expect("*")
            self.expect(")")
            aggregation.count.SetInParent()
        elif self.keyword("COUNT_UP_TO"):
            self.expect("(")
            kind, text = self.peek()
            if kind != "number" or not text.isdigit():
                self.fail("expected a count")
            self.i += 1
            aggregation.count.up_to.value = int(text)
            self.expect(")")
        elif self.keyword("SUM") or self.keyword("AVG"):
            operator = getattr(aggregation, self.tokens[self.i - 1][1].lower())
            self.expect("(")
            operator.property.name = self.identifier()
            self.expect(")")
        else:
            self.fail("expected COUNT(*), COUNT_UP_TO(n), SUM(p) or AVG(p)")
        if self.keyword("AS"):
            aggregation.alias = self.identifier()

    def done(self) -> None:
        if self.peek()[0] != "end":
            self.fail("unexpected text")


def _unquote(text: str) -> str:
    quote = text[0]
    body = text[1:-1].replace(quote * 2, quote)
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), body)


def is_aggregation(gql: Any) -> bool:
    tokens = _tokens(gql.query_string)
    words = [t[1].upper() for t in tokens[:3]]
    return bool(words) and (words[0] == "AGGREGATE" or words[:2] == ["SELECT", "COUNT"]
                            or words[:2] == ["SELECT", "COUNT_UP_TO"])


def to_query(gql: Any, project: str, database: str, namespace: str) -> Any:
    """The v1 Query a GqlQuery stands for."""
    parser = _Parser(gql, project, database, namespace)
    query = pb().Query()
    parser.select(query)
    parser.done()
    return query


def to_aggregation(gql: Any, project: str, database: str, namespace: str) -> Optional[Any]:
    """The v1 AggregationQuery a GqlQuery stands for."""
    parser = _Parser(gql, project, database, namespace)
    message = pb().AggregationQuery()
    parser.aggregation(message)
    parser.done()
    return message
