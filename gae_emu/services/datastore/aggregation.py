"""Aggregations over a query's results (Cloud Datastore's count, sum and avg), Firestore's rules:

- count: the number of results (the query's own limit applies; `up_to` caps it);
- sum: integers add up as an integer until that would overflow 64 bits, then as a double; any
  double makes the sum a double; values that are not numbers (or are lists) are skipped; no numbers
  at all sum to the integer 0;
- avg: the mean as a double, None when the results hold no number in the property.

Imports: the standard library, `.entities`.
"""
from __future__ import annotations

from typing import Iterable, List, Optional, Union

from gae_emu.services.datastore.entities import Entity

Number = Union[int, float]
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def numbers(entities: Iterable[Entity], name: str) -> List[Number]:
    """The numeric value of `name` in each entity that has one (a single int or float)."""
    out: List[Number] = []
    for entity in entities:
        prop = entity.properties.get(name)
        if prop is None or prop.multiple or not prop.values:
            continue
        data = prop.values[0].data
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            out.append(data)
    return out


def total(values: List[Number]) -> Number:
    result: Number = 0
    for value in values:
        result = result + value
        if isinstance(result, int) and not _INT64_MIN <= result <= _INT64_MAX:
            result = float(result)
    return result


def mean(values: List[Number]) -> Optional[float]:
    if not values:
        return None
    return float(sum(float(v) for v in values)) / len(values)
