"""Lexical product search: tokenising English and Chinese text, BM25 ranking, filters."""

from cartwise.search.filters import FilterColumns, SearchFilters, parse_filters
from cartwise.search.lexical import LexicalIndex, SearchHit
from cartwise.search.tokenize import Tokenizer

__all__ = ["FilterColumns", "LexicalIndex", "SearchFilters", "SearchHit", "Tokenizer", "parse_filters"]
