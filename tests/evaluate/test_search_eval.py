import math

import pytest

from cartwise.errors import ValidationError
from cartwise.evaluate.search import Judgments, evaluate_search, graded_ndcg, read_judgments


def test_graded_ndcg_hand_computed():
    grades = {"a": 2.0, "b": 1.0}
    ideal = 3 / math.log2(2) + 1 / math.log2(3)
    assert graded_ndcg(["b", "x", "a"], grades, 10) == pytest.approx((1 + 3 / math.log2(4)) / ideal)
    assert graded_ndcg(["a", "b"], grades, 10) == pytest.approx(1.0)


def test_evaluate_search_and_reader(tmp_path):
    path = tmp_path / "j.csv"
    path.write_text("query_id,query,item_id,relevance\nq1,red mug,m1,1\nq1,red mug,m2,0\nq2,tea,t1,2\n")
    judgments = read_judgments(path)
    assert judgments.relevance == {"q1": {"m1": 1.0}, "q2": {"t1": 2.0}}
    answers = {"red mug": ["m2", "m1"], "tea": ["x"]}
    scores = evaluate_search(judgments, lambda q, k: answers[q][:k])
    assert scores["MRR"] == pytest.approx((0.5 + 0.0) / 2)
    assert scores["recall@100"] == pytest.approx(0.5)


def test_bad_judgments_are_explained(tmp_path):
    path = tmp_path / "j.csv"
    path.write_text("q,query\n1,x\n")
    with pytest.raises(ValidationError, match="needs the columns"):
        read_judgments(path)
    with pytest.raises(ValidationError, match="no judged query"):
        evaluate_search(Judgments(queries={}, relevance={}), lambda q, k: [])
