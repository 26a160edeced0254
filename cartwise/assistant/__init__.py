"""The shopping assistant: product questions, store FAQ and conversational search.

Modules, in the order a message flows through them: :mod:`.knowledge` (FAQ entries and
passages), :mod:`.sources` and :mod:`.library` (reading them from files, keeping them in
the workspace), :mod:`.catalog` (passages derived from catalog items), :mod:`.routing`
(product question, store question or shopping request), :mod:`.ranking` (dense + BM25
evidence ranking), :mod:`.faq` (FAQ matching), :mod:`.calibration` (the abstain thresholds
and where they come from), :mod:`.conversation` (multi-turn context), :mod:`.answer`
(what an answer carries), :mod:`.assistant` (the orchestration) and :mod:`.log`.
"""
