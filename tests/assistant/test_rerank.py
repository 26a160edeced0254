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


# The shipped reranker (cartwise/assistant/data/evidence_reranker.txt, bench/assistant_rerank.py --write-model).


def test_the_shipped_reranker_puts_the_answer_bearing_passage_first():
    from cartwise.assistant import ranking
    from cartwise.encode import load_encoder

    reranker = rerank.Reranker()
    assert reranker.booster.num_trees() == 200
    question = "how many cups of coffee does it make?"
    # A review that repeats the question's words, and the bullet that answers it.
    passages = ["Makes great coffee, I love this coffee maker, the coffee is hot",
                "12-cup glass carafe with a drip-free spout", "Colour: black"]
    kinds = ["reviews", "bullets", "specs"]
    e5 = load_encoder()
    vectors, question_vector = e5.encode_items(passages), e5.encode_queries([question])[0]
    minilm_passages = reranker.encoder.encode_items(passages)
    minilm_question = reranker.encoder.encode_queries([question])[0]
    fused = ranking.rank(question_vector, question, vectors, passages, k=3)
    assert fused[0].index == 0 and fused[0].rerank is None  # the fused score prefers the review's words
    reranked = ranking.rank(question_vector, question, vectors, passages, k=3, kinds=kinds, reranker=reranker,
                            minilm_cosines=lambda at: minilm_passages[at] @ minilm_question)
    assert [r.index for r in reranked][:1] == [1] and reranked[0].rerank > reranked[1].rerank
    # Each passage keeps its fused score (the abstain threshold reads it).
    assert {r.index: r.score for r in reranked} == {r.index: r.score for r in fused}


def test_a_missing_or_foreign_model_is_reported_unavailable(tmp_path):
    import lightgbm
    import pytest

    with pytest.raises(rerank.RerankerUnavailable, match="no reranker model"):
        rerank.Reranker(tmp_path / "none.txt", encoder=object())
    (tmp_path / "damaged.txt").write_text("tree\nnot a model", encoding="utf-8")
    with pytest.raises(rerank.RerankerUnavailable, match="does not load"):
        rerank.Reranker(tmp_path / "damaged.txt", encoder=object())
    rng = np.random.default_rng(0)
    other = lightgbm.train({"objective": "regression", "verbose": -1, "num_leaves": 3},
                           lightgbm.Dataset(rng.random((50, 2)), rng.random(50), feature_name=["a", "b"]),
                           num_boost_round=2)
    other.save_model(str(tmp_path / "other.txt"))
    with pytest.raises(rerank.RerankerUnavailable, match="other features"):
        rerank.Reranker(tmp_path / "other.txt", encoder=object())


def test_minilm_features_are_relative_to_the_question():
    x = rerank.minilm_features(np.array([0.5, 0.7, 0.6], dtype=np.float32))
    assert x.shape == (3, len(rerank.MINILM_FEATURES))
    assert x[1, 1] == 0 and x[0, 1] < 0 and x[1, 2] > 0 > x[0, 2]
    assert rerank.minilm_features(np.zeros(0, dtype=np.float32)).shape == (0, 3)
