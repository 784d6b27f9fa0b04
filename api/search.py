"""The part of OpenSearch's query DSL that ``_search`` routes understand.

Queries: ``match_all``, ``term``, ``terms``, ``ids`` and ``bool`` with
``filter`` or ``must`` lists of those. Sort on one field, ``from``/``size``
paging, and ``_source`` includes. Anything else is a 400 that names it.
"""

import time
from dataclasses import dataclass, field

from common.errors import InvalidRequest
from common.validation import describe, expect, reject_unknown

MAX_RESULT_WINDOW = 10_000  # OpenSearch's index.max_result_window default

_SEARCH_FIELDS = {"query", "sort", "from", "size", "_source", "track_total_hits"}


@dataclass
class SearchRequest:
    filters: dict[str, list] = field(default_factory=dict)
    ids: list[str] | None = None
    sort_field: str | None = None
    descending: bool = True
    offset: int = 0
    size: int = 10
    source: list[str] | None = None
    started: float = field(default_factory=time.monotonic)


def parse_search(body: dict, fields: set[str], sortable: set[str]) -> SearchRequest:
    reject_unknown(body, _SEARCH_FIELDS, "the search body")
    search = SearchRequest()
    query = expect(body.get("query"), dict, "query", required=False, default={})
    _parse_query(query, search, fields, "query")
    _parse_sort(body.get("sort"), search, sortable)
    search.offset = _bounded_int(body.get("from"), "from", 0, MAX_RESULT_WINDOW, 0)
    search.size = _bounded_int(body.get("size"), "size", 0, MAX_RESULT_WINDOW, 10)
    if search.offset + search.size > MAX_RESULT_WINDOW:
        raise InvalidRequest(
            f"from + size must be at most {MAX_RESULT_WINDOW}, got "
            f"{search.offset + search.size}",
            "from",
        )
    search.source = _parse_source(body.get("_source"))
    return search


def _parse_query(query: dict, search: SearchRequest, fields: set[str], where: str):
    if not query:
        return
    if len(query) != 1:
        raise InvalidRequest(f"{where} must hold exactly one query type", where)
    ((kind, clause),) = query.items()
    if kind == "match_all":
        return
    if kind == "bool":
        clause = expect(clause, dict, f"{where}.bool")
        reject_unknown(clause, {"filter", "must"}, f"{where}.bool")
        for occur in ("filter", "must"):
            parts = clause.get(occur, [])
            for i, part in enumerate(parts if isinstance(parts, list) else [parts]):
                part = expect(part, dict, f"{where}.bool.{occur}[{i}]")
                _parse_query(part, search, fields, f"{where}.bool.{occur}[{i}]")
        return
    if kind == "ids":
        values = expect(
            expect(clause, dict, f"{where}.ids").get("values"),
            list,
            f"{where}.ids.values",
        )
        search.ids = [str(v) for v in values]
        return
    if kind not in ("term", "terms"):
        raise InvalidRequest(
            f"{where} type {kind!r} is not supported; use match_all, term, terms, "
            "ids or bool",
            where,
        )
    clause = expect(clause, dict, f"{where}.{kind}")
    for name, value in clause.items():
        name = name.removesuffix(".keyword")
        if name not in fields:
            raise InvalidRequest(
                f"{where}.{kind} on unknown field {name!r}; searchable fields are "
                f"{', '.join(sorted(fields))}",
                f"{where}.{kind}.{name}",
            )
        values = _term_values(kind, value, f"{where}.{kind}.{name}")
        if name in search.filters:
            allowed = set(search.filters[name]) & set(values)
            search.filters[name] = sorted(allowed)
        else:
            search.filters[name] = values


def _term_values(kind: str, value, where: str) -> list:
    if kind == "term":
        if isinstance(value, dict):
            value = value.get("value")
        if not isinstance(value, str | int | bool):
            raise InvalidRequest(
                f"{where} must be a string or number, got {describe(value)}", where
            )
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise InvalidRequest(
            f"{where} must be an array of strings, got {describe(value)}", where
        )
    return value


def _parse_sort(sort, search: SearchRequest, sortable: set[str]) -> None:
    if sort is None:
        return
    items = sort if isinstance(sort, list) else [sort]
    if len(items) != 1:
        raise InvalidRequest("sort takes exactly one field", "sort")
    item = items[0]
    order = "desc"
    if isinstance(item, str):
        name = item
        order = "asc"
    elif isinstance(item, dict) and len(item) == 1:
        ((name, spec),) = item.items()
        order = spec.get("order", "asc") if isinstance(spec, dict) else spec
    else:
        raise InvalidRequest(f"sort must name one field, got {describe(item)}", "sort")
    if name not in sortable:
        raise InvalidRequest(
            f"sort on {name!r} is not supported; sortable fields are "
            f"{', '.join(sorted(sortable))}",
            "sort",
        )
    if order not in ("asc", "desc"):
        raise InvalidRequest(
            f"sort order must be asc or desc, got {describe(order)}", "sort"
        )
    search.sort_field, search.descending = name, order == "desc"


def _bounded_int(value, name: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high
    ):
        raise InvalidRequest(
            f"{name} must be an integer from {low} to {high}, got {describe(value)}",
            name,
        )
    return value


def _parse_source(source) -> list[str] | None:
    if source is None or source is True:
        return None
    if source is False:
        return []
    if isinstance(source, str):
        return [source]
    if isinstance(source, dict):
        source = source.get("includes", [])
    if not isinstance(source, list) or not all(isinstance(s, str) for s in source):
        raise InvalidRequest("_source must be a field list, true or false", "_source")
    return source


def matches(doc: dict, search: SearchRequest, doc_id: str) -> bool:
    if search.ids is not None and doc_id not in search.ids:
        return False
    return all(doc.get(name) in values for name, values in search.filters.items())


def hits_response(
    index: str, hits: list[tuple[str, dict, object]], total: int, search: SearchRequest
) -> dict:
    def source_of(doc: dict) -> dict:
        if search.source is None:
            return doc
        return {k: v for k, v in doc.items() if k in search.source}

    rows = []
    for doc_id, doc, sort_value in hits:
        row = {
            "_index": index,
            "_id": doc_id,
            "_version": 1,
            "_seq_no": 0,
            "_primary_term": 1,
            "_score": None if sort_value is not None else 1.0,
            "_source": source_of(doc),
        }
        if sort_value is not None:
            row["sort"] = [sort_value]
        rows.append(row)
    return {
        "took": int((time.monotonic() - search.started) * 1000),
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {
            "total": {"value": total, "relation": "eq"},
            "max_score": None if search.sort_field else (1.0 if rows else None),
            "hits": rows,
        },
    }


def _sort_key(value) -> tuple:
    """Numbers before text, missing values first: any mix of them sorts."""
    if value is None:
        return (0, 0, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, value, "")
    return (2, 0, str(value))


def search_documents(
    index: str, docs: list[tuple[str, dict]], search: SearchRequest, sort_default: str
) -> dict:
    """Run ``search`` over documents held in memory (connectors, models)."""
    found = [(i, d) for i, d in docs if matches(d, search, i)]
    sort_field = search.sort_field or sort_default
    found.sort(
        key=lambda pair: _sort_key(pair[1].get(sort_field)), reverse=search.descending
    )
    page = found[search.offset : search.offset + search.size]
    sort_shown = search.sort_field is not None
    hits = [(i, d, d.get(sort_field) if sort_shown else None) for i, d in page]
    return hits_response(index, hits, len(found), search)
