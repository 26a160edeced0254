"""When the assistant answers and when it hands a question to a person.

An answer is given only when the best evidence's fused score
(:func:`cartwise.assistant.ranking.fuse`) reaches a threshold; below it the assistant
says it does not know and logs a hand-off. The thresholds are not guessed: bench/assistant.py
chooses them on the benchmarks, as the lowest score at which the answered questions are
right at least :data:`TARGET_PRECISION` of the time, chosen on one half of the questions
and checked on the other (BENCHMARKS.md, "Shopping assistant").
"""

from __future__ import annotations

TARGET_PRECISION = 0.9

EVIDENCE_THRESHOLD = 0.90
"""Product evidence and policy passages (ePQA: the top candidate is answer-bearing, label 2)."""

FAQ_THRESHOLD = 0.90
"""FAQ entries (AFQMC: the top question has the same intent)."""

__all__ = ["EVIDENCE_THRESHOLD", "FAQ_THRESHOLD", "TARGET_PRECISION"]
