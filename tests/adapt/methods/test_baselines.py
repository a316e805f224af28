"""source-only and oracle: the classification loss alone, on the domain each trains on."""

import numpy as np
import pytest

from tests.adapt.methods.common import build, cross_entropy, domains, loss_of


@pytest.mark.parametrize("name,domain", [("source-only", "source"), ("oracle", "target")])
def test_the_loss_is_the_mean_cross_entropy_of_its_domain(name, domain):
    method, nets = build(name)
    xs, ys, xt, yt = domains(8, np.random.default_rng(0))
    x, y = (xs, ys) if domain == "source" else (xt, yt)
    per_example = cross_entropy(nets.label_head(nets.features(x, True, domain)).numpy(), y)
    loss, terms = loss_of(method, nets, xs, ys, xt, yt)
    assert loss == pytest.approx(per_example.sum() / 8, rel=1e-5)
    assert terms["loss"] == pytest.approx((per_example.sum(), 8), rel=1e-5)
    assert set(terms) == {"loss", "accuracy"}
