"""Any labels, K >= 3 classes and sample weights: formulas, the estimator, model files."""

import json
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss

import cfensemble
from cfensemble import ALS, CFEnsembleClassifier, make_ensemble_problem
from cfensemble._als import ALSSolver, classifier_step, losses
from cfensemble._consensus import consensus_target, moments
from cfensemble._estimator import confidence_source
from cfensemble._losses import (
    class_weights,
    logits,
    softmax_focal_gradient,
    softmax_focal_loss,
    supervised_loss,
)
from cfensemble._problem import Data, Objective, State
from cfensemble.aggregators import solve_aggregator

K = 3


@pytest.fixture(scope="module")
def multiclass():
    """(P (n, m, K) with 30 % missing predictions, y_true, y_train with -1 for 70 %)."""
    P, y = make_ensemble_problem(
        400, 5, positive_rate=0.15, n_classes=K, missing_rate=0.3, random_state=0
    )
    labeled = np.random.default_rng(1).random(y.size) < 0.3
    return P, y, np.where(labeled, y, -1)


def _fit(P, y, sample_weight=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return CFEnsembleClassifier(random_state=0, **params).fit(P, y, sample_weight)


# --------------------------------------------------------------------- formulas


def test_softmax_focal_loss_is_the_written_formula():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(20, 4)) * 3, rng.integers(0, 4, 20).astype(float)
    for gamma in (0.0, 0.5, 2.0):
        p_t = softmax(z, axis=1)[np.arange(20), y.astype(int)]
        expected = -((1 - p_t) ** gamma) * np.log(p_t)
        np.testing.assert_allclose(softmax_focal_loss(z, y, gamma), expected, rtol=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_softmax_focal_gradient_is_a_finite_difference(gamma):
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(6, 3)) * 2, rng.integers(0, 3, 6).astype(float)
    grad, h = softmax_focal_gradient(z, y, gamma), 1e-6
    for k in range(3):
        step = np.zeros_like(z)
        step[:, k] = h
        fd = (softmax_focal_loss(z + step, y, gamma) - softmax_focal_loss(z - step, y, gamma)) / (
            2 * h
        )
        np.testing.assert_allclose(grad[:, k], fd, atol=1e-8)


def test_softmax_focal_loss_is_stable_for_a_sure_prediction():
    z = np.array([[800.0, 0.0, -800.0], [-800.0, 0.0, 800.0]])
    y = np.array([0.0, 0.0])
    for gamma in (0.0, 2.0):
        loss, grad = softmax_focal_loss(z, y, gamma), softmax_focal_gradient(z, y, gamma)
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
        # the first row is sure and right (loss 0), the second sure and wrong (1600 nats)
        assert loss[0] == pytest.approx(0.0, abs=1e-300) and loss[1] == pytest.approx(1600.0)


def test_class_weights_give_each_class_the_same_total():
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2], dtype=float)
    kappa = class_weights(y)
    np.testing.assert_allclose(kappa, 12 / (3 * np.bincount(y.astype(int))[y.astype(int)]))
    totals = np.bincount(y.astype(int), weights=kappa)
    np.testing.assert_allclose(totals, 4.0)
    # weighted counts: an integer weight is that many copies
    weight = np.array([2, 1, 1, 1, 1, 1, 1, 1, 3, 1, 1, 1], dtype=float)
    copies = np.repeat(np.arange(12), weight.astype(int))
    last_copy = np.cumsum(weight).astype(int) - 1
    np.testing.assert_allclose(
        class_weights(y, sample_weight=weight), class_weights(y[copies])[last_copy]
    )


def test_logits_are_the_written_sum():
    rng = np.random.default_rng(2)
    A, w, b = rng.random((7, 4 * K)), rng.random(4 * K), rng.normal(size=K)
    expected = np.array(
        [
            [sum(A[i, u * K + k] * w[u * K + k] for u in range(4)) + b[k] for k in range(K)]
            for i in range(7)
        ]
    )
    np.testing.assert_allclose(logits(A, w, b, K), expected, rtol=1e-13)


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("gamma", [0.0, 1.0])
def test_multinomial_aggregator_solve_is_optimal(positive, gamma):
    """The returned (w, b): no direction of the feasible set lowers the loss."""
    rng = np.random.default_rng(3)
    A, y = rng.random((60, 3 * K)), rng.integers(0, K, 60).astype(float)
    kappa = class_weights(y)
    w, b = solve_aggregator(
        A, y, kappa, gamma, 0.01, positive, np.full(3 * K, 1 / 3), 0.0, shrinkage=0.1, outputs=K
    )

    def loss(w_, b_):
        z = logits(A, w_, b_, K)
        return supervised_loss(z, y, kappa, gamma, w_, 0.01, 0.1)

    best = loss(w, b)
    for _ in range(40):
        dw, db = rng.normal(size=w.size) * 1e-3, rng.normal(size=K) * 1e-3
        w_new = np.maximum(w + dw, 0.0) if positive else w + dw
        assert loss(w_new, b + db) >= best - 1e-10
    if positive:
        assert np.all(w >= 0)


def _random_multiclass_state(seed, n=30, m=4, d=2):
    rng = np.random.default_rng(seed)
    P = softmax(rng.normal(size=(n, m, K)) * 2, axis=2)
    P[rng.random((n, m)) < 0.2] = np.nan
    P[np.isnan(P[:, :, 0]).all(axis=1), 0] = 1 / K
    P[0] = 1 / K
    columns = P.reshape(n, -1)
    y = np.where(rng.random(n) < 0.6, rng.integers(0, K, n).astype(float), np.nan)
    y[:K] = np.arange(K)
    state = State(
        X=rng.normal(size=(m * K, d)) * 0.5,
        Y=rng.normal(size=(n, d)) * 0.5,
        a=rng.normal(size=m * K) * 0.1,
        c=rng.normal(size=n) * 0.1,
        w=np.abs(rng.normal(size=m * K)),
        b=rng.normal(size=K),
    )
    data = Data(columns, y, confidence_source("uniform", columns, y, False, 1.0))
    return data, state


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), rho=st.floats(0.05, 0.95), lam=st.floats(1e-3, 1.0))
def test_multiclass_classifier_and_aggregator_steps_never_increase_the_objective(seed, rho, lam):
    data, state = _random_multiclass_state(seed)
    objective = Objective(rho, lam, 0.0, 0.01, True, "observed", outputs=K)
    before = losses(data, state, objective, 7)[0]
    state.X, state.a = classifier_step(data, state, objective, 7)
    after_classifiers = losses(data, state, objective, 7)[0]
    assert after_classifiers <= before + 1e-10 * abs(before)
    ALSSolver(latent_dim=2)._aggregator_step(data, state, objective)
    assert losses(data, state, objective, 7)[0] <= after_classifiers + 1e-10 * abs(before)


def test_torch_loss_equals_the_numpy_loss_for_k_classes():
    torch = pytest.importorskip("torch")
    from cfensemble._torch import TorchProblem

    for seed in range(3):
        data, state = _random_multiclass_state(seed)
        for gamma in (0.0, 2.0):
            objective = Objective(0.4, 0.05, gamma, 0.1, False, "both", outputs=K)
            state.w = np.abs(np.random.default_rng(seed).normal(size=2 * state.a.size))
            expected = losses(data, state, objective, 7)
            tp = TorchProblem(data, objective, torch.device("cpu"), 7)
            params = [
                torch.as_tensor(np.asarray(v), dtype=torch.float64)
                for v in (state.X, state.Y, state.a, state.c, state.w, state.b)
            ]
            got = [float(v) for v in tp.losses(params)[1:]]
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


# --------------------------------------------------------------------- estimator


def test_two_classes_through_a_3d_p_equal_the_binary_path(problem):
    P, _, y = problem
    names = np.array(["no", "yes"], dtype=object)
    y_names = np.where(y == -1, None, names[np.maximum(y, 0)])
    binary = _fit(P, y)
    stacked = _fit(np.stack([1 - P, P], axis=2), y_names)
    np.testing.assert_array_equal(stacked.classes_, ["no", "yes"])
    np.testing.assert_allclose(
        stacked.label_distributions_, binary.label_distributions_, atol=1e-12
    )
    np.testing.assert_allclose(
        stacked.predict_proba(np.stack([1 - P, P], axis=2)), binary.predict_proba(P), atol=1e-12
    )
    np.testing.assert_array_equal(
        stacked.predict(np.stack([1 - P, P], axis=2)), names[binary.predict(P)]
    )


@pytest.mark.parametrize(
    "labels",
    [
        np.array([1, 2]),
        np.array([2, 7]),
        np.array(["cat", "dog"]),
        np.array([False, True]),
        np.array([0.0, 1.0]),
    ],
    ids=["1-2", "2-7", "strings", "bools", "floats"],
)
def test_binary_labels_of_any_kind_round_trip(problem, labels):
    P, y_true, y = problem
    binary = _fit(P, y)
    if labels.dtype.kind == "b":  # bools cannot mark unlabeled rows: all labeled
        y_any, reference = labels[y_true], _fit(P, y_true)
    else:
        y_any = labels[np.maximum(y, 0)].astype(object)
        y_any[y == -1] = None if labels.dtype.kind == "U" else -1
        y_any = y_any if labels.dtype.kind == "U" else y_any.astype(labels.dtype)
        reference = binary
    est = _fit(P, y_any)
    np.testing.assert_array_equal(est.classes_, labels)
    np.testing.assert_allclose(
        est.label_distributions_, reference.label_distributions_, atol=1e-12
    )
    np.testing.assert_array_equal(est.predict(P), labels[reference.predict(P)])
    assert est.score(P, y_any) == pytest.approx(
        reference.score(P, y_true if labels.dtype.kind == "b" else y)
    )


def test_multiclass_fit_predicts_probabilities_of_every_class(multiclass):
    P, y_true, y = multiclass
    est = _fit(P, y)
    n = P.shape[0]
    np.testing.assert_array_equal(est.classes_, np.arange(K))
    assert est.n_class_columns_ == K and est.n_features_in_ == P.shape[1]
    assert est.coef_.shape == (P.shape[1], K) and est.intercept_.shape == (K,)
    assert est.label_distributions_.shape == (n, K)
    assert est.classifier_factors_.shape == (P.shape[1] * K, est.latent_dim_)
    proba = est.predict_proba(P)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(est.predict(P), np.argmax(proba, axis=1))
    order = np.random.default_rng(0).permutation(n)
    np.testing.assert_allclose(est.predict_proba(P[order]), proba[order])
    unlabeled = y == -1
    mean = np.nanmean(P, axis=1)
    assert log_loss(y_true[unlabeled], est.label_distributions_[unlabeled]) < log_loss(
        y_true[unlabeled], mean[unlabeled]
    )


def test_string_labels_with_none_for_unlabeled_rows(multiclass):
    P, _, y = multiclass
    names = np.array(["ant", "bee", "cow"], dtype=object)
    y_names = np.where(y == -1, None, names[np.maximum(y, 0)])
    y_nan = np.where(y == -1, np.nan, names[np.maximum(y, 0)])  # NaN marks them too
    a, b, c = _fit(P, y), _fit(P, y_names), _fit(P, y_nan)
    np.testing.assert_array_equal(b.classes_, names)
    np.testing.assert_allclose(b.label_distributions_, a.label_distributions_, atol=1e-12)
    np.testing.assert_allclose(c.label_distributions_, a.label_distributions_, atol=1e-12)
    np.testing.assert_array_equal(b.predict(P), names[a.predict(P)])


def test_minus_one_as_a_class_is_a_clear_error(problem):
    P, y_true, _ = problem
    with pytest.raises(ValueError, match="If -1 is a class"):
        CFEnsembleClassifier().fit(P, np.where(y_true == 1, 1, -1))


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"abstention": 0.5},
        {"abstention": 0.0, "calibrate_fill": False},
        {"rho": 0.7},
        {"aggregator_input": "both"},
        {"abstention": 0.5, "rho": 0.7},
    ],
)
def test_integer_sample_weights_equal_repeated_rows(n_classes, params):
    """Also for the default estimator: the "auto" abstention test and the fill-in
    calibration count each sampled row by its weight (here every row is sampled)."""
    P, y = make_ensemble_problem(
        300, 5, positive_rate=0.2, n_classes=n_classes, missing_rate=0.3, random_state=0
    )
    y = np.where(np.random.default_rng(0).random(300) < 0.4, y, -1)
    weight = np.random.default_rng(1).integers(0, 3, 300)  # 0: the row is left out
    copies = np.repeat(np.arange(300), weight)
    weighted = _fit(P, y, sample_weight=weight, **params)
    repeated = _fit(P[copies], y[copies], **params)
    np.testing.assert_allclose(weighted.predict_proba(P), repeated.predict_proba(P), atol=1e-8)
    np.testing.assert_allclose(
        weighted.label_distributions_[copies], repeated.label_distributions_, atol=1e-8
    )
    if params.get("abstention", "auto") == "auto" and params.get("rho", 1.0) == 1.0:
        # the test's statistics, not only its choice, count a row by its weight
        z_w, z_r = (np.array(e.abstention_test_["z"], float) for e in (weighted, repeated))
        np.testing.assert_allclose(z_w, z_r, rtol=1e-10)
    # rows of weight 0 are folded in afterwards, like new rows
    dropped = weight == 0
    np.testing.assert_allclose(
        weighted.label_distributions_[dropped], weighted.predict_proba(P[dropped]), atol=1e-12
    )


def test_fit_rejects_what_multiclass_cannot_do(multiclass):
    P, _, y = multiclass
    with pytest.raises(ValueError, match="fn_cost"):
        CFEnsembleClassifier(fn_cost=2.0).fit(P, y)
    with pytest.raises(ValueError, match="focal_gamma > 0 with rho < 1"):
        CFEnsembleClassifier(focal_gamma=1.0, rho=0.5).fit(P, y)
    with pytest.raises(ValueError, match="a callable is not available"):
        CFEnsembleClassifier(confidence=lambda P, y: np.ones_like(P)).fit(P, y)
    with pytest.raises(ValueError, match="every class needs"):
        CFEnsembleClassifier().fit(P, np.where(y == 2, -1, y))
    est = _fit(P, y)
    with pytest.raises(ValueError, match="fitted on a 3-D"):
        est.predict_proba(P[:, :, 0])
    with pytest.raises(ValueError, match="fitted on a 3-D"):
        est.predict_proba(P[:, :, :2] / P[:, :, :2].sum(axis=2, keepdims=True))


def test_multiclass_confidence_array_per_prediction_or_per_class(multiclass):
    P, _, y = multiclass
    C = np.random.default_rng(0).random(P.shape[:2]) + 0.1
    a = _fit(P, y, confidence=C)
    b = _fit(P, y, confidence=np.repeat(C[:, :, None], K, axis=2))
    np.testing.assert_allclose(a.label_distributions_, b.label_distributions_, atol=1e-12)
    assert np.max(np.abs(a.label_distributions_ - _fit(P, y).label_distributions_)) > 1e-6


def test_multiclass_without_labels_is_the_mean(multiclass):
    P, _, _ = multiclass
    with pytest.warns(UserWarning, match="no labeled rows"):
        est = CFEnsembleClassifier(random_state=0).fit(P, np.full(P.shape[0], -1))
    np.testing.assert_array_equal(est.classes_, np.arange(K))
    np.testing.assert_allclose(est.label_distributions_.sum(axis=1), 1.0)
    complete = ~np.isnan(P[:, :, 0]).any(axis=1)
    np.testing.assert_allclose(
        est.label_distributions_[complete], np.mean(P[complete], axis=1), atol=1e-12
    )


@pytest.mark.parametrize("solver", ["als", "torch"])
def test_multiclass_torch_and_auto(multiclass, solver):
    if solver == "torch":
        pytest.importorskip("torch")
    P, y_true, y = multiclass
    est = _fit(P, y, solver=solver, latent_dim="auto" if solver == "als" else 2)
    unlabeled = y == -1
    assert log_loss(y_true[unlabeled], est.label_distributions_[unlabeled]) < log_loss(
        y_true[unlabeled], np.nanmean(P, axis=1)[unlabeled]
    )
    if solver == "als":
        assert len(est.cv_results_["params"]) == 3


def test_multiclass_model_file_round_trip(multiclass, tmp_path):
    P, _, y = multiclass
    names = np.array(["ant", "bee", "cow"], dtype=object)
    est = _fit(P, np.where(y == -1, None, names[np.maximum(y, 0)]))
    path = tmp_path / "m.cfe"
    est.save(path)
    loaded = cfensemble.load(path)
    np.testing.assert_array_equal(loaded.classes_, names)
    np.testing.assert_array_equal(loaded.predict_proba(P), est.predict_proba(P))
    np.testing.assert_array_equal(loaded.predict(P), est.predict(P))
    np.testing.assert_array_equal(loaded.intercept_, est.intercept_)


def _edit_metadata(path, edit):
    """Rewrite a model file with ``edit(meta)`` applied to its JSON metadata."""
    import io

    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    meta = json.loads(np.load(io.BytesIO(members["metadata.npy"])).tobytes().decode())
    edit(meta)
    buffer = io.BytesIO()
    np.save(buffer, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    members["metadata.npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_version_2_model_file_still_loads(problem, tmp_path):
    P, _, y = problem
    path = tmp_path / "old.cfe"
    _fit(P, y).save(path)

    def as_version_2(meta):
        meta["format_version"] = 2
        del meta["scalars"]["n_class_columns_"]  # as version 2 wrote it
        for name in ("abstention_", "abstention_test_"):  # newer still
            del meta["scalars"][name]
        del meta["params"]["abstention"]

    _edit_metadata(path, as_version_2)
    loaded = cfensemble.load(path)
    assert loaded.n_class_columns_ == 0
    assert loaded.abstention_ == 0.0 and loaded.abstention_test_ is None
    assert loaded.abstention == 0.0  # refitting a clone fits the model the file holds
    np.testing.assert_array_equal(loaded.predict_proba(P), _fit(P, y).predict_proba(P))


def test_a_development_file_with_the_cross_validated_choice_loads(problem, tmp_path):
    """Development builds stored abstention_cv_ (the gains of the cross-validated choice
    the label-free test replaced): such a file loads, with abstention_ as stored."""
    P, _, y = problem
    path = tmp_path / "dev.cfe"
    est = _fit(P, y, abstention=0.25)
    est.save(path)

    def as_development_build(meta):
        del meta["scalars"]["abstention_test_"]
        meta["scalars"]["abstention_cv_"] = {"grid": [0.0, 0.25], "gain": [0.0, 0.1],
                                             "standard_error": [0.0, 0.01]}  # fmt: skip

    _edit_metadata(path, as_development_build)
    loaded = cfensemble.load(path)
    assert loaded.abstention_ == 0.25 and loaded.abstention_test_ is None
    assert not hasattr(loaded, "abstention_cv_")
    np.testing.assert_array_equal(loaded.predict_proba(P), est.predict_proba(P))


def test_multiclass_diagnostics_give_weights_per_class(multiclass):
    P, _, y = multiclass
    est = _fit(P, y)
    d = est.diagnostics_
    np.testing.assert_array_equal(d["weights"], est.coef_)
    np.testing.assert_allclose(d["class_weight_sums"], est.coef_.sum(axis=0))
    assert d["weight_sum"] == pytest.approx(min(est.coef_.sum(axis=0)))
    assert not d["collapsed"]


def test_per_class_factorization_is_k_binary_reconstructions(multiclass):
    """multiclass_factorization="per_class" (the default with ALS and rho = 1): each class's
    factors are those of a pure reconstruction of its (n, m) slice, and the aggregator is
    the exact softmax solve on the filled-in input (calibrated, ``calibrate_fill``)."""
    P, _, y = multiclass
    est = _fit(P, y)
    assert est.multiclass_factorization_ == "per_class"
    assert est.instance_factors_.shape == (P.shape[0], K, est.latent_dim_)
    seeds = np.random.RandomState(0).randint(np.iinfo(np.int32).max, size=K)
    fills = []
    for k in range(K):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            alone = CFEnsembleClassifier(random_state=seeds[k]).fit(
                P[:, :, k], np.full(P.shape[0], -1)
            )
        np.testing.assert_allclose(est.classifier_factors_[k::K], alone.classifier_factors_)
        np.testing.assert_allclose(est.classifier_bias_[k::K], alone.classifier_bias_)
        np.testing.assert_allclose(est.instance_factors_[:, k], alone.instance_factors_)
        # a new row is folded in per class, as the binary model folds it in
        Y, c = alone.fold_in(P[:20, :, k])
        np.testing.assert_allclose(est.fold_in(P[:20])[0][:, k], Y, atol=1e-12)
        np.testing.assert_allclose(est.fold_in(P[:20])[1][:, k], c, atol=1e-12)
        hat = alone.instance_factors_ @ alone.classifier_factors_.T
        hat += alone.classifier_bias_ + alone.instance_bias_[:, None]
        fills.append(hat)
    # the fill-in, calibrated per (classifier, class) column in the (n, m K) layout
    hat = est.fill_calibration_(np.stack(fills, axis=2).reshape(P.shape[0], -1))
    flat = P.reshape(P.shape[0], -1)
    A = np.where(np.isnan(flat), hat, flat)
    labeled = y != -1
    yl = y[labeled].astype(float)
    # the shrinkage target: the label-free consensus of the class columns of P (the
    # default "separation" is "consensus" for K >= 3 classes)
    target = consensus_target(moments(flat, K), K)
    np.testing.assert_allclose(est.shrinkage_target_, target, rtol=1e-12)
    w, b = solve_aggregator(
        A[labeled], yl, class_weights(yl), 0.0, 1e-3, True, np.full(A.shape[1], 1 / 5),
        np.zeros(K), shrinkage=0.1, outputs=K, target=target,
    )  # fmt: skip
    np.testing.assert_allclose(est.coef_, w.reshape(-1, K), atol=1e-6)
    prior = np.log(np.bincount(y[labeled], minlength=K) / labeled.sum())
    np.testing.assert_allclose(est.intercept_, b + prior, atol=1e-6)


def test_joint_factorization_where_per_class_is_not_possible(multiclass):
    P, _, y = multiclass
    joint = _fit(P, y, rho=0.5)
    assert joint.multiclass_factorization_ == "joint"
    assert joint.instance_factors_.shape == (P.shape[0], joint.latent_dim_)
    binary = _fit(P[:, :, 0], np.where(y == -1, -1, y == 0))
    assert binary.multiclass_factorization_ is None


def test_review_findings_stay_fixed(multiclass, tmp_path):
    """Defects an outside review found in the first version of the K-class code."""
    import pandas as pd

    P, _, y = multiclass
    weight = np.where(np.arange(P.shape[0]) % 7 == 0, 0.0, 1.0)
    # per-class fit with a confidence array and rows of weight 0
    C = np.random.default_rng(0).random(P.shape[:2]) + 0.1
    est = _fit(P, y, sample_weight=weight, confidence=C)
    assert est.multiclass_factorization_ == "per_class"
    # "gd" cannot leave the per-class aggregator at its start
    gd = _fit(P, y, solver=ALS(aggregator_solver="gd"))
    np.testing.assert_allclose(gd.coef_, _fit(P, y).coef_)
    # rho="auto" with focal_gamma: only rho = 1 is tried
    assert _fit(P, y, rho="auto", focal_gamma=1.0).rho_ == 1.0
    # latent_dim is capped at the classifiers for per-class factorizations
    with pytest.warns(UserWarning, match="above the number of classifiers"):
        assert _fit(P, y, latent_dim=9).latent_dim_ == P.shape[1]
    # a list of strings with NaN: NaN is unlabeled, not a class "nan"
    names = np.array(["ant", "bee", "cow"], dtype=object)
    labels = [np.nan if v == -1 else names[v] for v in y]
    assert list(_fit(P, labels).classes_) == list(names)
    # score with pandas' NA for unlabeled rows
    series = pd.Series([None if v == -1 else names[v] for v in y], dtype="string")
    assert 0 < _fit(P, series).score(P, series) <= 1
    # rounded probabilities (3 decimals) are accepted
    rounded = np.round(P, 3)
    assert _fit(rounded, y).predict_proba(rounded).shape == (P.shape[0], K)
    # a model file with unsorted classes is refused
    path = tmp_path / "m.cfe"
    est.save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["classes_"] = arrays["classes_"][::-1].copy()
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    with pytest.raises(ValueError, match="sorted and distinct"):
        cfensemble.load(path)


def test_the_original_method_front_ends_take_k_classes(multiclass):
    from cfensemble import CFEnsembleTrainer

    P, _, y = multiclass
    est = _fit_front_end(CFEnsembleTrainer(max_iter=5, random_state=0), P, y)
    assert est.multiclass_factorization_ == "joint"  # their rho = 0.5
    np.testing.assert_allclose(est.predict_proba(P).sum(axis=1), 1.0)


def _fit_front_end(est, P, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(P, y)


def test_torch_validation_counts_sample_weights():
    """The autograd trainer's validation loss weights the held-out rows by their sample
    weights, as training does (checked at a start it cannot leave: lr = 0)."""
    pytest.importorskip("torch")
    from cfensemble._problem import aggregator_input, reconstruct
    from cfensemble._torch import AutogradSolver

    data, state = _random_multiclass_state(4)
    held = np.flatnonzero(~np.isnan(data.y))[:8]
    y_held = data.y[held].copy()
    data.y[held] = np.nan
    weight = np.random.default_rng(0).integers(1, 4, data.shape[0]).astype(float)
    data = Data(data.P, data.y, data.confidence, True, weight)
    objective = Objective(1.0, 0.03, 0.0, 0.0, False, "observed", outputs=K)
    with warnings.catch_warnings():  # one epoch at lr = 0 is the point: it cannot converge
        warnings.filterwarnings("ignore", "The autograd trainer ran", ConvergenceWarning)
        result = AutogradSolver(latent_dim=2, max_epochs=1, lr=0.0, optimizer="sgd").fit(
            data, objective, state.copy(), np.random.RandomState(0), validation=(held, y_held)
        )
    P0 = np.where(np.isnan(data.P[held]), 0.0, data.P[held])
    P_hat = reconstruct(state.Y[held], state.X, state.a, state.c[held])
    A = aggregator_input("observed", P0, ~np.isnan(data.P[held]), P_hat)
    z = logits(A, state.w, state.b, K)
    kappa = class_weights(y_held, True, weight[held]) * weight[held]
    expected = supervised_loss(z, y_held, kappa, 0.0, np.zeros(0), 0.0)
    assert result.validation_loss == pytest.approx(expected, rel=1e-10)
    unweighted = supervised_loss(z, y_held, class_weights(y_held), 0.0, np.zeros(0), 0.0)
    assert abs(expected - unweighted) > 1e-6  # the weights matter here


def test_per_class_fits_warn_once_and_count_iterations_on(multiclass):
    """K factorizations: one ConvergenceWarning naming the classes that did not converge,
    and a callback whose iteration count runs on across the classes (a progress bar moves
    forward only)."""
    P, _, y = multiclass
    seen = []
    with pytest.warns(ConvergenceWarning) as record:
        clf = CFEnsembleClassifier(
            random_state=0,
            solver=ALS(max_iter=3, tol=0.0, callback=lambda it, parts: seen.append(it)),
        ).fit(P, y)
    assert clf.multiclass_factorization_ == "per_class"
    messages = [str(r.message) for r in record if r.category is ConvergenceWarning]
    assert len(messages) == 1 and "class(es) [0, 1, 2]" in messages[0]
    assert record[0].filename == __file__  # points at the caller's line
    assert seen == list(range(1, 3 * K + 1))
    assert clf.n_iter_ == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        CFEnsembleClassifier(random_state=0, solver=ALS(max_iter=500)).fit(P, y)


def test_labels_that_contradict_every_classifier_fall_back_to_the_mean():
    """Every weight at 0 (each labeled row's class is the next one): the constant softmax
    of the intercepts would rank nothing; the mean aggregator predicts instead."""
    P, y = make_ensemble_problem(
        600, 5, n_classes=3, positive_rate=0.2, missing_rate=0.2, random_state=0
    )
    y_shifted = np.where(np.arange(600) % 3 == 0, (y + 1) % 3, -1)
    with pytest.warns(cfensemble.CollapseWarning, match="every weight is 0"):
        clf = _fit(P, y_shifted)
    assert clf.diagnostics_["mean_fallback"] and not clf.aggregator_trained_
    mean = _fit(P, y_shifted, aggregator_type="mean")
    np.testing.assert_array_equal(clf.coef_, mean.coef_)
    np.testing.assert_allclose(clf.label_distributions_, mean.label_distributions_, atol=1e-12)
    np.testing.assert_allclose(clf.predict_proba(P[:50]), mean.predict_proba(P[:50]), atol=1e-12)
