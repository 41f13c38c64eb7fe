"""`RunAggregationQuery`: count, sum and avg over a v1 query's results, computed by the service's
`aggregation` rules on the entities its query returns (the nested query's limit and offset apply).

Imports: the standard library, `gae_emu.services.datastore`, this package.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

from gae_emu.cloud.datastore.errors import invalid
from gae_emu.cloud.datastore.queries import NO_MORE_RESULTS, Scope, query_from_pb
from gae_emu.cloud.datastore.values import value_to_pb
from gae_emu.services.datastore import DatastoreService, Transaction, Value
from gae_emu.services.datastore.aggregation import mean, numbers, total

MAX_AGGREGATIONS = 5  # production's limit per query


def run(service: DatastoreService, message: Any, scope: Scope, txn: Optional[Transaction], batch: Any) -> None:
    """Fill an AggregationResultBatch for the AggregationQuery `message`."""
    if not message.HasField("nested_query"):
        raise invalid("aggregation_query.nested_query: an aggregation needs a query")
    if not message.aggregations:
        raise invalid("aggregation_query.aggregations: name at least one aggregation")
    if len(message.aggregations) > MAX_AGGREGATIONS:
        raise invalid(f"aggregation_query.aggregations: at most {MAX_AGGREGATIONS} aggregations per query")
    query, _ = query_from_pb(message.nested_query, scope, "aggregation_query.nested_query")
    needs_values = any(a.WhichOneof("operator") in ("sum", "avg") for a in message.aggregations)
    entities = None
    result = batch.aggregation_results.add()
    aliases = set()
    for i, aggregation in enumerate(message.aggregations):
        where = f"aggregation_query.aggregations[{i}]"
        alias = aggregation.alias or f"property_{i + 1}"
        if alias in aliases:
            raise invalid(f"{where}.alias: {alias!r} is used twice")
        aliases.add(alias)
        operator = aggregation.WhichOneof("operator")
        target = result.aggregate_properties[alias]
        if operator == "count":
            up_to = aggregation.count.up_to.value if aggregation.count.HasField("up_to") else None
            if up_to is not None and up_to < 1:
                raise invalid(f"{where}.count.up_to: must be positive; received {up_to}")
            counted = query if up_to is None else replace(query, limit=min(up_to, query.limit or up_to))
            target.integer_value = len(service.run_query(replace(counted, keys_only=not counted.projection), txn).entities)
            continue
        if operator not in ("sum", "avg"):
            raise invalid(f"{where}: an aggregation needs count, sum or avg")
        name = getattr(aggregation, operator).property.name
        if not name:
            raise invalid(f"{where}.{operator}.property.name: name the property")
        if entities is None and needs_values:
            entities = service.run_query(query, txn).entities
        values = numbers(entities or [], name)
        value = total(values) if operator == "sum" else mean(values)
        value_to_pb(Value(value), target)
    batch.more_results = NO_MORE_RESULTS
