"""Product search: BM25 (English and Chinese), dense retrieval with a text encoder, their
fusion, query understanding, filters, facets and autocomplete."""

from cartwise.search.autocomplete import Autocomplete, Suggestion
from cartwise.search.facets import Facets, count_facets
from cartwise.search.filters import FilterColumns, SearchFilters, parse_filters
from cartwise.search.hybrid import MODES, Fusion, HybridSearcher
from cartwise.search.lexical import LexicalIndex, SearchHit
from cartwise.search.tokenize import Tokenizer
from cartwise.search.understand import ParsedQuery, QueryUnderstanding

__all__ = [
    "MODES",
    "Autocomplete",
    "Facets",
    "FilterColumns",
    "Fusion",
    "HybridSearcher",
    "LexicalIndex",
    "ParsedQuery",
    "QueryUnderstanding",
    "SearchFilters",
    "SearchHit",
    "Suggestion",
    "Tokenizer",
    "count_facets",
    "parse_filters",
]
