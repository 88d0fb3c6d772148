"""The query language, the same on every driver (docs/search.md), parsed here into a small tree that each
driver writes in its engine's own syntax. A user's text is never handed to an engine: every word is
reduced to letters and digits (text.tokens) before a driver quotes it.

    cat dog          both words (AND)
    "black cat"      the phrase
    cat*             a word starting with `cat`
    -dog             without `dog` (also -"hot dog")
    cat OR dog food  (cat or dog) and food: OR joins the words on either side, tighter than AND
    cat AND dog      the same as `cat dog`; `NOT dog` is the same as `-dog`

Parsing is lenient and never raises on the text itself: an unclosed quote ends at the end, a lone `-`, `*`
or `OR` with nothing to join is ignored, punctuation separates words (`foo-bar` is the phrase `foo bar`,
`a:b` the phrase `a b`). A query with no positive word (empty, or only exclusions) matches nothing.
Its size is bounded: MAX_QUERY_CHARS characters and MAX_TERMS terms (InvalidQuery past either).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .errors import InvalidQuery
from .text import tokens

MAX_QUERY_CHARS = 512
MAX_TERMS = 32
_LEXEME = re.compile(r'(-?)"([^"]*)(?:"|$)|(\S+)')


@dataclass(frozen=True)
class Term:
    """One word or phrase (several words in a row); `prefix` marks the last word as a prefix."""

    words: tuple[str, ...]
    prefix: bool = False

    @property
    def phrase(self) -> bool:
        return len(self.words) > 1


@dataclass(frozen=True)
class Query:
    """All of `groups` (each: any one of its terms), and none of `excluded`."""

    groups: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...] = ()

    @property
    def matches_nothing(self) -> bool:
        return not self.groups

    def terms(self) -> list[Term]:
        """Every positive term, in order (what highlights mark)."""
        return [term for group in self.groups for term in group]


def parse(text: object, *, index: str = "") -> Query:
    """The query tree of `text`; InvalidQuery only for a non-str or an over-long query."""
    if not isinstance(text, str):
        raise InvalidQuery(
            f"search: index {index!r}: q must be a str, not {type(text).__name__}", index=index
        )
    text = unicodedata.normalize("NFC", text)
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQuery(
            f"search: index {index!r}: the query is {len(text)} characters; at most {MAX_QUERY_CHARS}",
            index=index,
        )
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    joining = False  # an OR follows the last positive term
    last_positive = False
    negate_next = False  # after NOT
    for match in _LEXEME.finditer(text):
        negated, quoted, word = match.groups()
        if word in ("OR", "AND", "NOT"):
            joining = word == "OR" and last_positive
            negate_next = word == "NOT"
            continue
        if quoted is not None:
            term = _term(quoted, prefix=False)
        else:
            negated = "-" if word.startswith("-") else ""
            body = word[1:] if negated else word
            term = _term(body.rstrip("*"), prefix=body.endswith("*"))
        if negate_next:
            negated, negate_next = "-", False
        if term is None:
            joining = joining and not negated
            continue
        if negated:
            excluded.append(term)
            joining = last_positive = False
        elif joining and groups:
            groups[-1].append(term)
            joining, last_positive = False, True
        else:
            groups.append([term])
            last_positive = True
    count = sum(len(g) for g in groups) + len(excluded)
    if count > MAX_TERMS:
        raise InvalidQuery(
            f"search: index {index!r}: the query has {count} terms; at most {MAX_TERMS}", index=index
        )
    return Query(tuple(tuple(g) for g in groups), tuple(excluded))


def _term(text: str, *, prefix: bool) -> Term | None:
    words = tokens(text)
    return Term(tuple(words), prefix) if words else None
