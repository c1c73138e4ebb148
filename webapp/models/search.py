"""The people search index, kept by the database itself rather than by the models.

Searching 50,000 people for "smit" with LIKE '%smit%' reads every row, so migration 0011
gives the searched columns a trigram index, the kind that answers "contains" directly:

- SQLite: an FTS5 table `users_search` with the trigram tokenizer over SEARCHED, reading
  its text from `users` (external content) and kept in step by triggers on `users`, so
  bulk imports with Core INSERTs are indexed too. A later migration that rebuilds `users`
  (Alembic batch mode on SQLite) drops those triggers and must create them again.
- PostgreSQL: pg_trgm GIN indexes on the same columns, which serve ILIKE '%word%' as it is.

Neither is in the models' metadata: `include_object` keeps Alembic's comparison from
reporting them as tables and indexes to remove.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table

SEARCHED = ("given_name", "family_name", "username", "email", "student_number")
SEARCH_TABLE = "users_search"
# FTS5 keeps the index in shadow tables named after the search table.
_SHADOW_TABLES = {f"{SEARCH_TABLE}_{part}" for part in ("data", "idx", "docsize", "config")}
TRIGRAM_INDEXES = {f"ix_users_{column}_trgm" for column in SEARCHED}
# Trigrams need three characters: shorter words are matched by reading the rows.
SHORTEST_INDEXED_WORD = 3

# For queries only (never created from here): the rowid and the table-named MATCH column.
users_search = Table(
    SEARCH_TABLE, MetaData(), Column("rowid", Integer), Column(SEARCH_TABLE, String)
)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic: leave the search index (made by migration 0011) out of model comparisons."""
    if type_ == "table" and name in {SEARCH_TABLE, *_SHADOW_TABLES}:
        return False
    return not (type_ == "index" and name in TRIGRAM_INDEXES)
