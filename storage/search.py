"""Case search through the character-pair index of migration 0011 (FTS5 on SQLite, GIN on PostgreSQL).

The index holds every pair of adjacent characters of a case's title and text and its number's last
digit group. A query is turned into the same pairs: the index returns candidates that hold all of
them, and ``verify`` keeps those that really contain the query, so results equal a substring search
on both databases. Queries of one character have no pair and fall back to a substring scan.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise import connections
from tortoise.expressions import Q, RawSQL
from tortoise.queryset import QuerySet

from .models import Case

MAX_PAIRS = 12  # more pairs narrow the candidates little, and verify checks the whole query anyway
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class Terms:
    """A free-text query prepared for the index: its character pairs and, for digits, a number sequence."""

    text: str
    pairs: tuple[str, ...]
    sequence: str | None = None
    words: tuple[str, ...] = ()  # words separated by spaces: a case must contain each (煤气 滨湖)


def words_of(query: str) -> tuple[str, ...]:
    """Return the distinct space-separated words of a query, in order."""
    return tuple(dict.fromkeys(query.split()))


def terms(query: str) -> Terms | None:
    """Prepare a query for the index, or return None when it has no pair to look up (one-character words only)."""
    words = words_of(query)
    pairs: list[str] = []
    for word in words:  # pairs within each word: the space between words is no character of a case
        folded = word.translate(_ASCII_LOWER)
        pairs += [folded[i:i + 2] for i in range(len(folded) - 1)]
    pairs = list(dict.fromkeys(pairs))[:MAX_PAIRS]
    sequence = query if len(words) == 1 and query.isascii() and query.isdigit() else None
    if not pairs and sequence is None:
        return None
    return Terms(query, tuple(pairs), sequence, words)


def _hex(value: str) -> str:
    return value.encode().hex().upper()


def _sqlite_match(t: Terms) -> str:
    # Every token is hex digits (an 'n' before number tokens), so the expression needs no quoting.
    parts = []
    if t.pairs:
        parts.append("(" + " AND ".join(_hex(p) for p in t.pairs) + ")")
    if t.sequence is not None:
        parts += [f"n{_hex(t.sequence)}", f"n{_hex(t.sequence.lstrip('0'))}"]
    return " OR ".join(parts)


def _pg_array(values: list[str]) -> str:
    # Characters travel as chr(code), so no text of the query is ever spliced into the SQL, and chr() is
    # immutable: the planner folds the array to a constant and estimates it from the column's statistics.
    return "ARRAY[" + ", ".join(" || ".join(f"chr({ord(c)})" for c in v) for v in values) + "]::text[]"


def _pg_match(t: Terms) -> str:
    parts = []
    if t.pairs:
        parts.append(f"search_terms @> {_pg_array(list(t.pairs))}")
    if t.sequence is not None:
        parts.append(f"search_terms && {_pg_array(['#' + t.sequence, '#' + t.sequence.lstrip('0')])}")
    return "(" + " OR ".join(parts) + ")"


def dialect() -> str:
    """Return the dialect of the default connection ("sqlite" or "postgres")."""
    return connections.get("default").capabilities.dialect


def match_sql(t: Terms, *, before: int | None = None, after: int | None = None, newest_first: bool = True,
              limit: int | None = None) -> str:
    """Return a SELECT of the ids of candidate cases, optionally bounded, ordered by id and limited."""
    sqlite = dialect() == "sqlite"
    if sqlite:
        sql = f"SELECT rowid FROM case_search WHERE case_search MATCH '{_sqlite_match(t)}'"
        column = "rowid"
    else:
        sql = f"SELECT id FROM appeal_case WHERE {_pg_match(t)}"
        column = "id"
    if before is not None:
        sql += f" AND {column} < {int(before)}"
    if after is not None:
        sql += f" AND {column} > {int(after)}"
    if limit is not None:
        sql += f" ORDER BY {column} {'DESC' if newest_first else 'ASC'} LIMIT {int(limit)}"
    return sql


def narrow(qs: QuerySet[Case], t: Terms) -> QuerySet[Case]:
    """Keep the cases of a query that hold the terms and contain the query (a verified index match).

    The index part is a parameterless subquery, so PostgreSQL plans it for these very words.
    """
    return qs.filter(id__in=RawSQL(f"({match_sql(t)})")).filter(verify(t))


async def candidates(t: Terms, *, before: int | None = None, after: int | None = None, newest_first: bool = True,
                     limit: int = 1000) -> list[int]:
    """Return up to ``limit`` candidate case ids from the index, newest (or oldest) first."""
    sql = match_sql(t, before=before, after=after, newest_first=newest_first, limit=limit)
    rows = await connections.get("default").execute_query_dict(sql)
    return [next(iter(r.values())) for r in rows]


def verify(t: Terms) -> Q:
    """Return the condition a candidate must meet: each word in its title or text, or its number's sequence."""
    found = contains_all(t.words or (t.text,))
    if t.sequence is not None:
        found |= Q(number__endswith=t.sequence.lstrip("0") or t.sequence)
    return found


def contains_all(words: tuple[str, ...], number: bool = False) -> Q:
    """Return the condition that every word is in a case's title or text (or, with ``number``, its number)."""
    found = Q()
    for word in words:
        either = Q(title__icontains=word) | Q(text__icontains=word)
        found &= (either | Q(number__icontains=word)) if number else either
    return found
