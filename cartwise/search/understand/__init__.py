"""Query understanding: price, category, brand, colour and size constraints in a shopper's query.

:class:`QueryUnderstanding` is built once from the catalog's category paths, brand names and
attribute values; :meth:`QueryUnderstanding.parse` then reads a query such as
``"红色 连衣裙 200元以下"`` or ``"waterproof hiking boots for kids under $50"`` into a
:class:`ParsedQuery`: price bounds, the catalog categories and brands it names, canonical
colours and sizes, and one :class:`Chip` per constraint for the front end to show and strike out.

Everything is plain Python and regular expressions compiled at import or in ``__init__``;
catalog names are looked up through dictionaries keyed by the query's words (Latin script) or
by the first character (Chinese), so a parse costs time linear in the query, not in the catalog.
Price phrases are removed from :attr:`ParsedQuery.text`; brand, category, colour and size words
stay there because they still help lexical matching.

The modules follow the parse: :mod:`.text` (normalisation and tokens), :mod:`.prices`,
:mod:`.attributes` (colour and size vocabularies, words never read as brands or categories),
:mod:`.phrases` (catalog name tables and spans), :mod:`.parsed` (what a parse returns) and
:mod:`.parser`, which combines them.
"""

from cartwise.search.understand.attributes import canonical_colour, canonical_size
from cartwise.search.understand.parsed import Chip, ParsedQuery
from cartwise.search.understand.parser import QueryUnderstanding

__all__ = ["Chip", "ParsedQuery", "QueryUnderstanding", "canonical_colour", "canonical_size"]
