"""The reranker's features and the character n-gram tokens for FAQ matching
(cartwise/assistant/rerank.py, measured by bench/assistant_rerank.py)."""

from __future__ import annotations

import numpy as np

from cartwise.assistant import rerank
from cartwise.assistant.ranking import tokenize


def test_chinese_is_cut_into_character_ngrams_and_other_words_kept():
    assert rerank.char_ngrams("花呗还款 iPhone") == ["花", "呗", "还", "款", "花呗", "呗还", "还款", "iphone"]
    tokens = rerank.faq_tokens(["怎么退货 dresses"])[0]
    assert "dress" in tokens and "退货" in tokens and "退" in tokens
    assert not any(len(t) > 2 and "\u4e00" <= t[0] <= "\u9fff" for t in tokens)  # no jieba words


def test_pair_features_are_relative_to_the_question_and_name_the_source():
    question = "how many cups does it hold?"
    passages = ["Holds 12 cups of coffee", "Great taste, I love it", "Colour: black"]
    dense = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    x = rerank.pair_features(question, tokenize([question])[0], passages, tokenize(passages),
                             ["bullets", "reviews", "specs"], dense, np.array([3.0, 0.0, 0.0], dtype=np.float32))
    col = {name: i for i, name in enumerate(rerank.FEATURES)}
    assert x.shape == (3, len(rerank.FEATURES))
    assert x[0, col["dense_gap"]] == 0 and x[2, col["dense_gap"]] < 0
    assert x[0, col["bm25_rel"]] == 1 and x[1, col["bm25_rel"]] == 0
    assert x[0, col["kind_bullet"]] == 1 and x[1, col["kind_review"]] == 1 and x[2, col["kind_attribute"]] == 1
    assert x[0, col["q_amount_p_digit"]] == 1 and x[1, col["q_amount_p_digit"]] == 0
    assert x[0, col["overlap"]] > x[1, col["overlap"]]
    assert x[:, col["dense_is_top"]].tolist() == [1, 0, 0]
