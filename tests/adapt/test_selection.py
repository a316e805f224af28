import numpy as np
import pytest

from lib.adapt.selection import (
    deep_embedded_validation,
    proxy_a_distance,
    select_epochs,
    soft_neighbourhood_density,
)

rng = np.random.default_rng(0)


def test_proxy_a_distance_is_near_zero_for_one_domain_and_near_two_for_separated_ones():
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    assert proxy_a_distance(a, b) < 0.3
    # Means 3 sigma apart along one direction: the Bayes error is 6.7%, so PAD ~ 1.73.
    assert proxy_a_distance(a, b + np.r_[3.0, np.zeros(15)]) == pytest.approx(1.73, abs=0.1)
    assert proxy_a_distance(a, b + np.r_[8.0, np.zeros(15)]) > 1.95


def test_snd_prefers_dense_class_clusters_to_scattered_predictions():
    centres = rng.normal(size=(10, 10)) * 6
    clustered = centres[rng.integers(0, 10, 300)] + rng.normal(size=(300, 10)) * 0.3
    scattered = rng.normal(size=(300, 10)) * 2
    assert soft_neighbourhood_density(clustered) > soft_neighbourhood_density(scattered)


def test_dev_is_the_plain_validation_loss_without_shift_and_weights_target_like_errors():
    source, target = rng.normal(size=(500, 8)), rng.normal(size=(500, 8))
    val = rng.normal(size=(400, 8))
    losses = rng.uniform(0, 2, 400)
    assert deep_embedded_validation(source, target, val, losses) == pytest.approx(losses.mean(),
                                                                                  abs=0.15)
    # Target lies along +x0. A model that errs on target-like validation images must get a
    # higher risk than one that errs on source-like ones, with the same plain mean loss.
    target = rng.normal(size=(500, 8)) + np.r_[1.5, np.zeros(7)]
    target_like = val[:, 0] > 0
    errs_on_target = np.where(target_like, 2.0, 0.0)
    errs_on_source = np.where(target_like, 0.0, 2.0)
    assert deep_embedded_validation(source, target, val, errs_on_target) > \
        deep_embedded_validation(source, target, val, errs_on_source) + 0.5


def test_select_epochs_picks_per_criterion_and_marks_the_oracle():
    epochs = [{"epoch": e, "snd": s, "dev": d} for e, s, d in
              [(0, 1.0, 3.0), (1, 4.0, 1.0), (2, 4.0, 2.0), (3, 2.0, 0.5)]]
    evals = [{"epoch": e, "split": split, "accuracy": acc} for e, split, acc in
             [(0, "source_val", 0.5), (1, "source_val", 0.7), (2, "source_val", 0.6),
              (3, "source_val", 0.7), (0, "target_test", 0.9), (1, "target_test", 0.2),
              (2, "target_test", 0.3), (3, "target_test", 0.4)]]
    picks = {p["criterion"]: p for p in select_epochs(epochs, evals)}
    assert {c: p["epoch"] for c, p in picks.items()} == {
        "last": 3, "source_val": 3, "snd": 2, "dev": 3, "oracle_target_test": 0}
    assert picks["dev"]["criterion_value"] == 0.5  # reported as the risk itself
    assert picks["snd"]["target_test_accuracy"] == 0.3
    assert [c for c, p in picks.items() if not p["label_free"]] == ["oracle_target_test"]


def test_select_epochs_without_evaluation_splits_keeps_the_label_free_criteria():
    picks = select_epochs([{"epoch": 0, "snd": 1.0, "dev": None}], [])
    assert [p["criterion"] for p in picks] == ["last", "snd"]
