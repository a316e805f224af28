"""Rank 0's evaluation routes each split through its own domain's normalisation."""

import numpy as np
import pytest

from lib.adapt.judge import SPLIT_DOMAIN, EpochJudge
from lib.adapt.selection import soft_neighbourhood_density
from lib.data.feed import InMemoryShard
from lib.train.steps import score_logits
from tests.adapt.methods.common import CLASSES, build, domains


class Rows:
    """Rows in memory with the one call the judge makes of a Ray Data shard."""

    def __init__(self, **columns):
        self.columns = columns

    def iter_batches(self, batch_size, batch_format):
        n = len(self.columns["x"])
        for start in range(0, n, batch_size):
            yield {k: v[start:start + batch_size] for k, v in self.columns.items()}


def test_every_split_is_scored_through_its_own_domains_batchnorm():
    method, nets = build("dann", domain_norm="separate")
    xs, ys, xt, yt = domains(40, np.random.default_rng(0))
    # Statistics far apart, as after training on two shifted domains: a split sent through
    # the other domain's BatchNorm scores differently.
    nets.norms["source"].moving_mean.assign(np.full(16, 2.0, np.float32))
    nets.norms["target"].moving_mean.assign(np.full(16, -2.0, np.float32))
    judge = EpochJudge(nets, {"source_sample": InMemoryShard({"x": xs, "label": ys}),
                              "target_sample": InMemoryShard({"x": xt}),
                              "source_val": Rows(x=xs, label=ys),
                              "target_test": Rows(x=xt, label=yt)},
                       [f"c{i}" for i in range(CLASSES)], embedding_samples=0, method=method,
                       eval_splits=(("source_val", "folder:s"), ("target_test", "folder:t")))
    verdict = judge.judge(0)
    scores = {row["split"]: row for row in verdict.tables["evals"]}

    def through(x, y, domain):
        logits = nets.label_head(nets.features(x, training=False, domain=domain)).numpy()
        return score_logits(logits, y, CLASSES), logits

    for split, (x, y) in (("source_val", (xs, ys)), ("target_test", (xt, yt))):
        own, _ = through(x, y, SPLIT_DOMAIN[split])
        other, _ = through(x, y, "target" if SPLIT_DOMAIN[split] == "source" else "source")
        assert scores[split]["loss"] == pytest.approx(own["loss"], rel=1e-5)
        assert scores[split]["loss"] != pytest.approx(other["loss"], rel=1e-3)
    assert SPLIT_DOMAIN == {"source_sample": "source", "source_val": "source",
                            "target_sample": "target", "target_test": "target"}
    # SND scores the target sample's predictions as the target domain sees them.
    _, target_logits = through(xt, yt, "target")
    assert verdict.columns["snd"] == pytest.approx(soft_neighbourhood_density(target_logits),
                                                    rel=1e-5)
    # It reports every metric Ray Train keeps a checkpoint by (--select-by), with the
    # values it records: a name that drifted would keep the wrong epoch's checkpoint.
    from lib.adapt.selection import KEPT_BY

    for criterion, keep in KEPT_BY.items():
        if keep is not None:
            assert keep[0] in verdict.reported, criterion
    assert verdict.reported["source_val_accuracy"] == scores["source_val"]["accuracy"]
    assert verdict.reported["snd"] == verdict.columns["snd"]
    assert verdict.reported["dev"] == verdict.columns["dev"] is not None
