"""cron.yaml's `schedule:` language ("groc"): parse a schedule into a frozen spec, or say which column is wrong.

The grammar is Google's schedule parser's (the SDK's `google/appengine/cron/`, an ANTLR grammar),
rewritten as a small hand-written lexer and recursive-descent parser:

    schedule  := interval | specific
    interval  := 'every' NUMBER ('hours' | 'mins' | 'minutes')
                 ['from' TIME 'to' TIME | 'synchronized'] ['on' weekdays]
    specific  := ((ordinals weekdays | monthdays) 'of' (monthspec | quarterspec)
                  | ordinals weekdays) TIME
    ordinals  := 'every' | ordinal (',' ordinal)*         ordinal: 1st..5th, first..fifth
    weekdays  := 'day' | weekday (',' weekday)*            weekday: mon, monday, ... sun, sunday
    monthdays := NUMBER (',' NUMBER)*
    monthspec := 'month' | month (',' month)*              month: jan, january, ... dec, december
    quarterspec := 'quarter' | (first|second|third) (',' ...)* 'month' 'of' 'quarter'
    TIME      := H:MM or HH:MM (00-23, minutes 00-59)

The text is lower-cased first and tokens need no spaces between them (`every5mins` is valid), as in
Google's lexer. A word's long form is all or nothing: `tues` and `sept` are errors, as there.
What the parser's actions make of a schedule (`1st day` means day 1 of the month; weekdays alone mean
every occurrence; a quarter's Nth month) and the checks its time specifications make (interval > 0,
`synchronized` only for periods dividing 24 hours, weekdays only with periods up to a day, days of
month 1-31 that exist in some chosen month) are reproduced here; the next run times are computed in
`gae_emu.services.cron.schedule`.

Imports: the standard library only.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from typing import FrozenSet, List, NamedTuple, NoReturn, Optional, Tuple, Union

ALL_WEEKDAYS = frozenset(range(7))  # 0 = Sunday, as Google's parser numbers them
ALL_ORDINALS = frozenset(range(1, 6))
ALL_MONTHS = frozenset(range(1, 13))
QUARTER_STARTS = (1, 4, 7, 10)


class ScheduleError(ValueError):
    """A schedule Google's parser rejects; `column` is 1-based within the schedule text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message, self.column = message, column


@dataclass(frozen=True)
class IntervalSpec:
    """`every N minutes|hours [from A to B | synchronized] [on weekdays]`."""

    seconds: int
    period: str  # "minutes" | "hours", as written
    interval: int
    synchronized: bool = False
    start: Optional[Tuple[int, int]] = None  # (hour, minute) of the daily range, local time
    end: Optional[Tuple[int, int]] = None
    weekdays: Optional[FrozenSet[int]] = None  # None: every day


@dataclass(frozen=True)
class SpecificSpec:
    """A time of day on chosen days: ordinal weekdays or days of month, in chosen months."""

    time: Tuple[int, int]
    ordinals: FrozenSet[int] = ALL_ORDINALS
    weekdays: FrozenSet[int] = ALL_WEEKDAYS
    months: FrozenSet[int] = ALL_MONTHS
    monthdays: FrozenSet[int] = frozenset()  # set: days of month instead of ordinal weekdays


ScheduleSpec = Union[IntervalSpec, SpecificSpec]


class Token(NamedTuple):
    kind: str
    text: str
    pos: int  # 0-based offset in the schedule


_WEEKDAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_MONTHS = {name: i for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_ORDINALS = {"1st": 1, "first": 1, "2nd": 2, "second": 2, "3rd": 3, "third": 3, "4th": 4,
             "fourth": 4, "5th": 5, "fifth": 5}
# (base, optional long-form tail, token kind, value). Order matters where bases share a prefix.
_WORDS: Tuple[Tuple[str, str, str, int], ...] = (
    ("synchronized", "", "SYNCHRONIZED", 0),
    ("month", "", "MONTH", 0),
    ("mon", "day", "WEEKDAY", 1), ("tue", "sday", "WEEKDAY", 2), ("wed", "nesday", "WEEKDAY", 3),
    ("thu", "rsday", "WEEKDAY", 4), ("fri", "day", "WEEKDAY", 5), ("sat", "urday", "WEEKDAY", 6),
    ("sun", "day", "WEEKDAY", 0),
    ("jan", "uary", "MONTHNAME", 1), ("feb", "ruary", "MONTHNAME", 2), ("mar", "ch", "MONTHNAME", 3),
    ("apr", "il", "MONTHNAME", 4), ("may", "", "MONTHNAME", 5), ("jun", "e", "MONTHNAME", 6),
    ("jul", "y", "MONTHNAME", 7), ("aug", "ust", "MONTHNAME", 8), ("sep", "tember", "MONTHNAME", 9),
    ("oct", "ober", "MONTHNAME", 10), ("nov", "ember", "MONTHNAME", 11), ("dec", "ember", "MONTHNAME", 12),
    ("first", "", "ORDINAL", 1), ("second", "", "ORDINAL", 2), ("third", "", "ORDINAL", 3),
    ("fourth", "", "ORDINAL", 4), ("fifth", "", "ORDINAL", 5),
    ("day", "", "DAY", 0), ("quarter", "", "QUARTER", 0), ("every", "", "EVERY", 0),
    ("hours", "", "HOURS", 0), ("minutes", "", "MINUTES", 0), ("mins", "", "MINUTES", 0),
    ("of", "", "OF", 0), ("from", "", "FROM", 0), ("to", "", "TO", 0), ("on", "", "ON", 0),
)
_TIME_RE = re.compile(r"([0-9]|[01][0-9]|2[0-3]):[0-5][0-9]")
_ORDINAL_RE = re.compile(r"1st|2nd|3rd|4th|5th")


def tokenize(text: str) -> List[Token]:
    """Google's lexer, rule for rule where it matters for what is accepted."""
    tokens: List[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch == ",":
            tokens.append(Token("COMMA", ch, i))
            i += 1
        elif ch.isdigit() and ch.isascii():
            i = _lex_number(text, i, tokens)
        else:
            i = _lex_word(text, i, tokens)
    return tokens


def _lex_number(text: str, i: int, tokens: List[Token]) -> int:
    if re.match(r"[0-9]+:", text[i:i + 6]):
        match = _TIME_RE.match(text, i)
        if not match or re.match(r"[0-9]", text[match.end():match.end() + 1]):
            raise ScheduleError(f"{text[i:i + 5]!r} is not a time HH:MM (hours 00-23, minutes 00-59)", i + 1)
        tokens.append(Token("TIME", match.group(), i))
        return match.end()
    if len(text) > i + 1 and text[i] in "12345" and text[i + 1] in "snrt":  # 1st, 2nd, 3rd, 4th, 5th
        match = _ORDINAL_RE.match(text, i)
        if not match:
            raise ScheduleError(f"{text[i:i + 3]!r} is not an ordinal (1st, 2nd, 3rd, 4th, 5th)", i + 1)
        tokens.append(Token("ORDINAL", match.group(), i))
        return match.end()
    end = i
    while end < len(text) and text[end].isascii() and text[end].isdigit() and end - i < 5:
        end += 1
    tokens.append(Token("NUMBER", text[i:end], i))
    return end


def _lex_word(text: str, i: int, tokens: List[Token]) -> int:
    for base, tail, kind, _ in _WORDS:
        if not text.startswith(base, i):
            continue
        end = i + len(base)
        if tail and text.startswith(tail[0], end):
            if not text.startswith(tail, end):
                word = re.match(r"[a-z]*", text[i:]).group()  # type: ignore[union-attr]
                raise ScheduleError(f"{word!r} is not {base + tail!r} or {base!r}", end + 1)
            end += len(tail)
        tokens.append(Token(kind, text[i:end], i))
        return end
    if text.startswith("hour", i):
        raise ScheduleError("'hour' is not a unit: write 'hours'", i + 5)
    if text.startswith("min", i):
        raise ScheduleError("write 'mins' or 'minutes'", i + 4)
    word = re.match(r"[^\s,0-9]*", text[i:]).group() or text[i]  # type: ignore[union-attr]
    raise ScheduleError(f"unexpected {word!r}", i + 1)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self, offset: int = 0) -> Optional[Token]:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def kind(self, offset: int = 0) -> str:
        token = self.peek(offset)
        return token.kind if token else "END"

    def take(self, *kinds: str, what: str = "") -> Token:
        token = self.peek()
        if token is None or token.kind not in kinds:
            self.fail(f"expected {what or ' or '.join(k.lower() for k in kinds)}")
        self.i += 1
        return token  # type: ignore[return-value]

    def fail(self, message: str, token: Optional[Token] = None) -> NoReturn:
        token = token or self.peek()
        if token is None:
            raise ScheduleError(f"{message}, but the schedule ends there", len(self.text) + 1)
        raise ScheduleError(f"{message}, got {token.text!r}", token.pos + 1)

    def comma_list(self, kinds: Tuple[str, ...], what: str) -> List[Token]:
        items = [self.take(*kinds, what=what)]
        while self.kind() == "COMMA":
            self.i += 1
            items.append(self.take(*kinds, what=what))
        return items

    # -- grammar --------------------------------------------------------------------------------

    def schedule(self) -> ScheduleSpec:
        if self.kind() == "EVERY" and self.kind(1) == "NUMBER":
            spec: ScheduleSpec = self.interval()
        else:
            spec = self.specific()
        if self.peek() is not None:
            self.fail("expected the end of the schedule")
        return spec

    def interval(self) -> IntervalSpec:
        self.take("EVERY")
        number = self.take("NUMBER")
        unit = self.take("HOURS", "MINUTES", what="'hours', 'mins' or 'minutes'")
        start = end = None
        synchronized = False
        if self.kind() == "FROM":
            self.i += 1
            start = _time(self.take("TIME", what="a time HH:MM"))
            self.take("TO", what="'to'")
            end = _time(self.take("TIME", what="a time HH:MM"))
        elif self.kind() == "SYNCHRONIZED":
            self.i += 1
            synchronized = True
        weekdays: Optional[FrozenSet[int]] = None
        on = self.peek()
        if self.kind() == "ON":
            self.i += 1
            weekdays = self.weekdays_only()
        interval = int(number.text)
        period = "hours" if unit.kind == "HOURS" else "minutes"
        seconds = interval * (3600 if period == "hours" else 60)
        if interval < 1:
            raise ScheduleError("the interval must be greater than zero", number.pos + 1)
        if weekdays is not None and (not weekdays or len(weekdays) == 7):
            weekdays = None  # every day is no restriction
        if weekdays is not None and seconds > 86400:
            assert on is not None
            raise ScheduleError("'on' weekdays can only be used with periods of at most one day", on.pos + 1)
        if synchronized and (seconds > 86400 or 86400 % seconds):
            raise ScheduleError("'synchronized' needs a period that divides 24 hours evenly", number.pos + 1)
        if synchronized:
            start, end = (0, 0), (23, 59)
        return IntervalSpec(seconds=seconds, period=period, interval=interval, synchronized=synchronized,
                            start=start, end=end, weekdays=weekdays)

    def weekdays_only(self) -> FrozenSet[int]:
        if self.kind() == "DAY":
            self.i += 1
            return ALL_WEEKDAYS
        return frozenset(_value(t) for t in self.comma_list(("WEEKDAY",), "a weekday"))

    def specific(self) -> SpecificSpec:
        first = self.peek()
        ordinals: set = set()
        weekdays: set = set()
        monthdays: set = set()
        if self.kind() == "NUMBER":
            monthdays = {int(t.text) for t in self.comma_list(("NUMBER",), "a day of the month")}
            self.take("OF", what="'of'")
            months = self.monthspec()
        else:
            if self.kind() == "EVERY":
                self.i += 1
            elif self.kind() == "ORDINAL":
                ordinals = {_value(t) for t in self.comma_list(("ORDINAL",), "an ordinal")}
            else:
                self.fail("expected 'every N minutes|hours', an ordinal ('1st', 'every'), or days of the month")
            if self.kind() == "DAY":
                self.i += 1
                if ordinals:  # `1st,15th day` means days of the month
                    monthdays, ordinals = ordinals, set()
                else:
                    ordinals, weekdays = set(ALL_ORDINALS), set(ALL_WEEKDAYS)
            else:
                weekdays = {_value(t) for t in self.comma_list(("WEEKDAY",), "a weekday or 'day'")}
                ordinals = ordinals or set(ALL_ORDINALS)
            if self.kind() == "OF":
                self.i += 1
                months = self.monthspec()
            else:
                months = set(ALL_MONTHS)
        time = _time(self.take("TIME", what="a time HH:MM"))
        if monthdays:
            _check_monthdays(monthdays, months, first)
        return SpecificSpec(time=time, ordinals=frozenset(ordinals), weekdays=frozenset(weekdays),
                            months=frozenset(months), monthdays=frozenset(monthdays))

    def monthspec(self) -> set:
        if self.kind() == "MONTH":
            self.i += 1
            return set(ALL_MONTHS)
        if self.kind() == "MONTHNAME":
            return {_value(t) for t in self.comma_list(("MONTHNAME",), "a month")}
        if self.kind() == "QUARTER":
            self.i += 1
            return set(QUARTER_STARTS)
        if self.kind() == "ORDINAL":
            offsets = self.comma_list(("ORDINAL",), "first, second or third")
            for token in offsets:
                if _value(token) > 3:
                    self.fail("a quarter has three months: expected first, second or third", token)
            self.take("MONTH", what="'month'")
            self.take("OF", what="'of'")
            self.take("QUARTER", what="'quarter'")
            return {start + _value(t) - 1 for t in offsets for start in QUARTER_STARTS}
        self.fail("expected 'month', month names, 'quarter' or 'first|second|third month of quarter'")


def _value(token: Token) -> int:
    if token.kind == "ORDINAL":
        return _ORDINALS[token.text]
    if token.kind == "WEEKDAY":
        return _WEEKDAYS[token.text[:3]]
    return _MONTHS[token.text[:3]]


def _time(token: Token) -> Tuple[int, int]:
    hour, minute = token.text.split(":")
    return int(hour), int(minute)


def _check_monthdays(days: set, months: set, first: Optional[Token]) -> None:
    column = first.pos + 1 if first else 1
    if min(days) < 1:
        raise ScheduleError("a day of the month must be at least 1", column)
    if max(days) > 31:
        raise ScheduleError("a day of the month must be at most 31", column)
    # Valid when the smallest day exists in at least one chosen month (a leap year counts).
    if not any(min(days) <= calendar.monthrange(4, month)[1] for month in months):
        raise ScheduleError(f"day {min(days)} does not exist in the chosen months", column)


def parse_schedule(text: str) -> ScheduleSpec:
    """The spec of a cron.yaml schedule, or ScheduleError with the 1-based column of the mistake."""
    return _Parser(text.lower()).schedule()
