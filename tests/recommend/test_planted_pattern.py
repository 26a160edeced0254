"""Each model must beat popularity on a planted pattern, so that a broken model fails."""

import numpy as np
from recommend_frames import T0, make_events, make_items

from cartwise.evaluate.metrics import hit_rate
from cartwise.recommend import Interaction, ItemKNN, Popularity

N_USERS, N_PAIRS, N_NOISE = 300, 90, 20
MINUTE = 60_000


def planted():
    """Items come in pairs (a_i, b_i): whoever looks at a_i buys b_i later. Twenty noise
    items are chosen by everyone with a skewed, pair-independent distribution. Each user's
    last event is the b of their last pair: the held-out target."""
    rng = np.random.default_rng(2024)
    noise_p = 1.0 / np.arange(1, N_NOISE + 1)
    noise_p /= noise_p.sum()
    train, histories, targets = [], [], []
    for u in range(N_USERS):
        user, t = f"user{u}", T0 - 60 * 24 * 60 * MINUTE + u * 1000 * MINUTE
        rows = []
        for n in rng.choice(N_NOISE, size=4, replace=False, p=noise_p):
            t += MINUTE
            rows.append((user, f"noise{n}", "purchase", t))
        for p in rng.choice(N_PAIRS, size=3, replace=False):
            t += MINUTE
            rows.append((user, f"a{p}", "view", t))
            t += MINUTE
            rows.append((user, f"a{p}", "add_to_cart", t))
            t += MINUTE
            rows.append((user, f"b{p}", "purchase", t))
        train += rows[:-1]
        histories.append([Interaction(item, kind, ts) for _, item, kind, ts in rows[:-1]])
        targets.append(rows[-1][1])
    items = [(f"a{p}", "Pairs > A") for p in range(N_PAIRS)] + [(f"b{p}", "Pairs > B") for p in range(N_PAIRS)]
    items += [(f"noise{n}", "Noise") for n in range(N_NOISE)]
    return make_events(train), make_items(items), histories, targets


def ranks(answers, targets):
    return [next((r for r, s in enumerate(answer) if s.item_id == t), -1) for answer, t in zip(answers, targets)]


def test_itemknn_beats_popularity_on_planted_pairs():
    events, items, histories, targets = planted()
    popularity = Popularity().fit(events, items)
    pop_answers = [popularity.recommend(10, exclude={e.item_id for e in h}) for h in histories]
    knn_answers = ItemKNN().fit(events).recommend(histories, k=10)
    pop_hr = hit_rate(ranks(pop_answers, targets), 10)
    knn_hr = hit_rate(ranks(knn_answers, targets), 10)
    assert knn_hr >= 0.9, knn_hr
    assert pop_hr <= 0.2, pop_hr
    assert knn_hr - pop_hr >= 0.6
    # The explanation points at the planted cause.
    hits = [(answer, t) for answer, t in zip(knn_answers, targets) if answer and answer[0].item_id == t]
    assert len(hits) > 200
    assert all(answer[0].because[0] == "a" + t[1:] for answer, t in hits)
