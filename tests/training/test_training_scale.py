"""`train` sizes the neural models' batches to the store: a small store's epoch still makes
enough optimiser steps to converge in a few epochs (the demo's blend took 7 minutes)."""

from cartwise.training import MIN_STEPS_PER_EPOCH, _new_recommender, batch_size_for


def test_batch_size_gives_small_stores_enough_steps_per_epoch():
    assert batch_size_for(100_000, 256) == 256 and batch_size_for(4_096, 256) == 256
    assert batch_size_for(1_905, 256) == 64  # the demo store's shoppers
    assert 1_905 / 64 >= MIN_STEPS_PER_EPOCH
    assert batch_size_for(10, 256) == 32 and batch_size_for(10, 16) == 16


def test_the_blends_transformer_gets_the_stores_batch_size():
    blend = _new_recommender("blend", vectors=None, runtime={"seed": 0}, on_epoch=None, users=1_905)
    assert blend.members["sequential"].batch_size == 64
    alone = _new_recommender("sequential", vectors=None, runtime={}, on_epoch=None, users=50_000)
    assert alone.batch_size == 256
