"""``aggregator_l2="auto"``: 1e-3, raised where fewer than 5 rows of a class are labeled."""

import numpy as np
import pytest
from conftest import UNEQUAL, labeled_problem, quiet_fit, rewrite_metadata

from cfensemble import Autograd
from cfensemble.io import load_model, save_model


def _with_positives(y_true, y_train, k, seed=0):
    """``y_train`` with exactly ``k`` labeled positives (the others hidden)."""
    y = y_train.copy()
    positives = np.flatnonzero(y == 1)
    hide = np.random.default_rng(seed).permutation(positives)[k:]
    y[hide] = -1
    assert np.sum(y == 1) == k and np.sum(y == 0) > 100
    return y


def _slow_rule(y_train, sample_weight=None, n_classes=2):
    """The rule written out: 1e-3, times 5 / (labeled rows of the rarest class) when that
    is below 5 (at least 1 row counted)."""
    weight = np.ones(y_train.size) if sample_weight is None else sample_weight
    rarest = min(weight[y_train == c].sum() for c in range(n_classes))
    return 1e-3 if rarest >= 5 else 1e-3 * 5 / max(rarest, 1)


@pytest.mark.parametrize("k", [1, 2, 4, 5, 30])
def test_auto_follows_the_rule_and_equals_a_fit_with_its_value(k):
    P, y_true, y_train = labeled_problem(UNEQUAL, missing_rate=0.3, n=1500)
    y = _with_positives(y_true, y_train, k)
    auto = quiet_fit(P, y)
    assert auto.aggregator_l2 == "auto"
    assert auto.aggregator_l2_ == pytest.approx(_slow_rule(y), rel=1e-15)
    assert auto.aggregator_l2_ == pytest.approx({1: 5e-3, 2: 2.5e-3, 4: 1.25e-3}.get(k, 1e-3))
    fixed = quiet_fit(P, y, aggregator_l2=auto.aggregator_l2_)
    assert fixed.aggregator_l2_ == auto.aggregator_l2_
    np.testing.assert_array_equal(auto.coef_, fixed.coef_)
    np.testing.assert_array_equal(auto.predict_proba(P), fixed.predict_proba(P))


def test_fewer_labeled_positives_give_smaller_weights():
    """The point of the rule: with two labeled positives the aggregator is less sharp than
    with the fixed 1e-3 (a smaller weight vector), and its probabilities less extreme."""
    P, y_true, y_train = labeled_problem(UNEQUAL, missing_rate=0.0, n=1500)
    y = _with_positives(y_true, y_train, 2)
    auto, fixed = quiet_fit(P, y), quiet_fit(P, y, aggregator_l2=1e-3)
    assert auto.aggregator_l2_ == pytest.approx(2.5e-3)
    assert np.linalg.norm(auto.coef_) < np.linalg.norm(fixed.coef_)


def test_a_number_is_used_as_given():
    P, _, y_train = labeled_problem(UNEQUAL, missing_rate=0.0, n=600)
    assert quiet_fit(P, y_train, aggregator_l2=0.0).aggregator_l2_ == 0.0
    assert quiet_fit(P, y_train, aggregator_l2=0.02).aggregator_l2_ == 0.02


def test_rows_count_by_their_sample_weight():
    """Two positives of weight 3 count as six rows, like the six rows repeated."""
    P, y_true, y_train = labeled_problem(UNEQUAL, missing_rate=0.3, n=1500)
    y = _with_positives(y_true, y_train, 2)
    weight = np.where(y == 1, 3.0, 1.0)
    weighted = quiet_fit(P, y, weight)
    assert weighted.aggregator_l2_ == 1e-3 == _slow_rule(y, weight)
    repeat = np.flatnonzero(y == 1)
    rows = np.concatenate([np.arange(y.size), repeat, repeat])
    assert quiet_fit(P[rows], y[rows]).aggregator_l2_ == 1e-3
    half = np.where(y == 1, 0.5, 1.0)  # fractional weights count as they are
    assert quiet_fit(P, y, half).aggregator_l2_ == pytest.approx(5e-3)  # 1 row: at least 1


def test_no_labels():
    """Nothing is trained then; the rule still gives a number (no class has a row)."""
    P, _, _ = labeled_problem(UNEQUAL, missing_rate=0.0, n=600)
    assert quiet_fit(P, np.full(600, -1)).aggregator_l2_ == pytest.approx(5e-3)


def test_three_classes_count_the_rarest():
    rng = np.random.default_rng(0)
    n, m, k = 600, 5, 3
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, m, k)) + 2.0 * np.eye(k)[y][:, None, :]
    P = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    y_semi = np.where(rng.random(n) < 0.3, y, -1)
    y_semi[np.flatnonzero(y_semi == 2)[3:]] = -1  # three labeled rows of class 2
    auto = quiet_fit(P, y_semi)
    assert auto.aggregator_l2_ == pytest.approx(1e-3 * 5 / 3)
    assert auto.aggregator_l2_ == pytest.approx(_slow_rule(y_semi, n_classes=3))
    fixed = quiet_fit(P, y_semi, aggregator_l2=auto.aggregator_l2_)
    np.testing.assert_array_equal(auto.predict_proba(P), fixed.predict_proba(P))


def test_torch_validation_rows_do_not_count():
    """The torch trainer holds labeled rows out for validation before anything uses the
    labels: the rule counts the rows the aggregator is fitted on."""
    pytest.importorskip("torch")
    P, y_true, y_train = labeled_problem(UNEQUAL, missing_rate=0.0, n=600)
    y = _with_positives(y_true, y_train, 5)
    clf = quiet_fit(P, y, solver=Autograd(max_epochs=2, validation_fraction=0.5))
    assert clf.aggregator_l2_ > 1e-3  # fewer than five positives left for the fit


def test_a_bad_value_names_the_parameter():
    P, _, y_train = labeled_problem(UNEQUAL, missing_rate=0.0, n=300)
    for bad in ("cv", -1.0):
        with pytest.raises(ValueError, match="aggregator_l2"):
            quiet_fit(P, y_train, aggregator_l2=bad)


def test_model_files_keep_the_value(tmp_path):
    P, y_true, y_train = labeled_problem(UNEQUAL, missing_rate=0.3, n=800)
    auto = quiet_fit(P, _with_positives(y_true, y_train, 2))
    save_model(auto, tmp_path / "m.cfe")
    loaded = load_model(tmp_path / "m.cfe")
    assert loaded.aggregator_l2 == "auto" and loaded.aggregator_l2_ == auto.aggregator_l2_
    np.testing.assert_array_equal(loaded.predict_proba(P), auto.predict_proba(P))


def test_older_files_load_with_the_parameter_value(tmp_path):
    """Files written before ``aggregator_l2_`` existed had a number as the parameter."""
    P, _, y_train = labeled_problem(UNEQUAL, missing_rate=0.3, n=800)
    path = tmp_path / "m.cfe"
    save_model(quiet_fit(P, y_train, aggregator_l2=0.002), path)
    rewrite_metadata(path, lambda meta: meta["scalars"].pop("aggregator_l2_"))
    assert load_model(path).aggregator_l2_ == 0.002
