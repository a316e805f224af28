import math

import numpy as np
import pytest

from lib.adapt.schedules import annealed_rate, grl_lambda


def test_lambda_ramps_from_zero_to_the_papers_value():
    assert float(grl_lambda(0.0, 1.0, 10.0)) == 0.0
    values = [float(grl_lambda(p, 0.5, 10.0)) for p in np.linspace(0, 1, 11)]
    assert values == sorted(values)
    assert values[-1] == pytest.approx(0.5 * (2 / (1 + math.exp(-10)) - 1))
    assert values[3] == pytest.approx(0.5 * (2 / (1 + math.exp(-3)) - 1))
    assert float(grl_lambda(1.7, 0.5, 10.0)) == values[-1]  # progress past the end is clamped


def test_annealed_rate_follows_lr_over_one_plus_alpha_p_to_the_beta():
    schedule = annealed_rate(0.01, 10.0, 0.75, total_steps=200)
    for step in (0, 50, 200, 400):
        p = min(step / 200, 1.0)
        assert float(schedule(step)) == pytest.approx(0.01 / (1 + 10 * p) ** 0.75, rel=1e-6)
    assert float(annealed_rate(0.01, 0.0, 0.75, 200)(150)) == pytest.approx(0.01)


def test_a_groups_rate_is_scaled_and_follows_batches_not_its_updates():
    from lib.adapt.schedules import scaled_rate

    base = annealed_rate(0.01, 10.0, 0.75, total_steps=200)
    # An optimizer stepping 3 times a batch: at its 30th update, 10 batches are done.
    rate = scaled_rate(base, 0.1, updates=3)
    assert float(rate(30)) == pytest.approx(0.1 * float(base(10)), rel=1e-6)
    assert float(rate(31)) == pytest.approx(0.1 * float(base(10)), rel=1e-6)
    assert scaled_rate(base, 1.0) is base
    assert scaled_rate(0.01, 0.5) == pytest.approx(0.005)
