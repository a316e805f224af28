"""The figures' arithmetic and what they show."""

import numpy as np

from lib.report.figures import embedding, pca_2d
from lib.report.summary import RunTables


def test_pca_keeps_the_direction_that_separates_the_domains():
    rng = np.random.default_rng(0)
    source = rng.normal(0, 0.1, (50, 6))
    target = rng.normal(0, 0.1, (50, 6))
    target[:, 4] += 5.0  # the domains differ along one axis only
    points = pca_2d(np.vstack([source, target]))
    assert points.shape == (100, 2)
    first = points[:, 0]
    assert abs(first[:50].mean() - first[50:].mean()) > 4.5  # first component: the gap
    assert np.allclose(points.mean(axis=0), 0, atol=1e-9)


def test_embedding_figure_has_both_panels_and_says_what_is_missing():
    rows = [{"epoch": -1, "representation": "backbone", "domain": d, "features": [float(i), 0.0, 1.0]}
            for d in ("source", "target") for i in range(5)]
    fig = embedding(RunTables("r"), rows, picked=3)
    before, after = fig.axes
    assert [t.get_text() for t in before.get_legend().get_texts()] == ["source (5)", "target (5)"]
    assert after.get_title() == "adapted features, epoch 3: not saved"
