"""CFEnsembleStackingClassifier: from features to an ensemble in one object."""

import re
import warnings
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import make_column_transformer
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_predict
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

import cfensemble
from cfensemble import ALS, CFEnsembleClassifier, CFEnsembleStackingClassifier, labeled_scorer
from cfensemble.stacking import load_stacking

EXPECTED = {
    "check_classifiers_classes": (
        "its last part uses the labels -1 and 1, and -1 marks an unlabeled row: a clear "
        "error; its string-label parts run in test_string_and_multiclass_labels_as_sklearn"
    ),
}


def _base():
    return [("logreg", LogisticRegression()), ("nb", GaussianNB())]


def _quiet_fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # one base estimator gives the final estimator one column: latent_dim 2 is capped
        warnings.filterwarnings("ignore", "latent_dim=2 is above the number", UserWarning)
        return est.fit(X, y)


@parametrize_with_checks(
    [
        CFEnsembleStackingClassifier(
            _base(), final_estimator=CFEnsembleClassifier(solver=ALS(max_iter=5)), cv=3
        )
    ],
    expected_failed_checks=lambda est: EXPECTED,
)
def test_sklearn_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # the checks' random or degenerate data: an aggregator may collapse, and GaussianNB
        # takes the log of a class prior of 0 (one-label checks)
        warnings.simplefilter("ignore", cfensemble.CollapseWarning)
        warnings.filterwarnings("ignore", "divide by zero encountered in log", RuntimeWarning)
        check(estimator)


@pytest.fixture
def data():
    X, y = make_classification(
        n_samples=400, n_features=8, n_informative=4, weights=[0.85], random_state=0
    )
    return X, y


class Recorder(ClassifierMixin, BaseEstimator):
    """Logistic regression that records the labels it was trained on."""

    seen: ClassVar[list] = []

    def fit(self, X, y):
        Recorder.seen.append(np.asarray(y).copy())
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.model_.predict(X)


def test_unlabeled_rows_never_train_the_base_estimators(data):
    X, y = data
    y_train = np.where(np.arange(y.size) % 3 == 0, y, -1)
    Recorder.seen = []
    clf = CFEnsembleStackingClassifier([("rec", Recorder())], cv=4)
    _quiet_fit(clf, X, y_train)
    n_labeled = int((y_train != -1).sum())
    assert len(Recorder.seen) == 5  # 4 folds + the refit
    assert all(set(np.unique(s)) <= {0, 1} for s in Recorder.seen)
    assert Recorder.seen[-1].size == n_labeled
    # unlabeled rows are in P (from the refitted estimator) and get transductive predictions
    unlabeled = y_train == -1
    np.testing.assert_allclose(
        clf.P_[unlabeled, 0], clf.estimators_[0].predict_proba(X[unlabeled])[:, 1]
    )
    assert clf.transduction_.shape == (y.size,)


def test_out_of_fold_matrix_equals_cross_val_predict(data):
    X, y = data
    final = CFEnsembleClassifier(latent_dim=2, random_state=0)
    clf = _quiet_fit(CFEnsembleStackingClassifier(_base(), final, cv=5), X, y)
    assert clf.P_.shape == (y.size, 2)
    # the slow obvious version: cross_val_predict with the same (stratified) folds
    expected = cross_val_predict(GaussianNB(), X, y, cv=5, method="predict_proba")[:, 1]
    np.testing.assert_allclose(clf.P_[:, 1], expected)
    in_sample = clf.estimators_[0].predict_proba(X)[:, 1]
    assert not np.allclose(clf.P_[:, 0], in_sample)  # out of fold, not in sample
    proba = clf.predict_proba(X[:10])
    assert proba.shape == (10, 2)
    np.testing.assert_allclose(proba, clf.final_estimator_.predict_proba(clf.transform(X[:10])))
    assert clf.final_estimator_.latent_dim == 2
    assert not hasattr(final, "n_iter_")  # the given final estimator is cloned, not fitted
    assert list(clf.get_feature_names_out()) == ["logreg", "nb"]
    assert clf.named_estimators_.nb is clf.estimators_[1]


def test_decision_function_goes_through_the_logistic_function(data):
    X, y = data
    clf = _quiet_fit(
        CFEnsembleStackingClassifier([("svm", LinearSVC()), ("nb", GaussianNB())], cv=3), X, y
    )
    assert clf.stack_method_ == ["decision_function", "predict_proba"]
    scores = clf.estimators_[0].decision_function(X[:5])
    np.testing.assert_allclose(clf.transform(X[:5])[:, 0], 1 / (1 + np.exp(-scores)))
    with pytest.raises(ValueError, match="'svm' has no predict_proba"):
        CFEnsembleStackingClassifier([("svm", LinearSVC())], stack_method="predict_proba").fit(
            X, y
        )


def test_dataframe_with_strings_reaches_the_base_estimators_untouched(data):
    X, y = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["colour"] = np.where(X[:, 0] > 0, "red", "blue")  # a string column
    encode = make_column_transformer(
        (OneHotEncoder(), ["colour"]), (StandardScaler(), ["f1", "f2", "f3"])
    )
    stack = CFEnsembleStackingClassifier(
        [
            ("logreg", make_pipeline(encode, LogisticRegression())),
            ("tree", make_pipeline(clone(encode), DecisionTreeClassifier(max_depth=3))),
        ],
        cv=3,
    )
    y_semi = np.where(np.arange(y.size) % 2 == 0, y, -1)
    _quiet_fit(stack, frame, y_semi)
    assert list(stack.feature_names_in_) == list(frame.columns)
    assert stack.predict_proba(frame.iloc[:4]).shape == (4, 2)
    with pytest.raises(ValueError, match="feature names"):
        stack.predict_proba(frame[frame.columns[::-1]])


def test_sparse_X(data):
    X, y = data
    stack = CFEnsembleStackingClassifier(
        [("logreg", LogisticRegression()), ("tree", DecisionTreeClassifier(max_depth=2))], cv=3
    )
    dense = _quiet_fit(clone(stack), X, y).label_distributions_[:, 1]
    sparse = _quiet_fit(clone(stack), sp.csr_matrix(X), y).label_distributions_[:, 1]
    np.testing.assert_allclose(sparse, dense, atol=1e-6)


def test_prefit_uses_the_given_estimators(data):
    X, y = data
    fitted = [("logreg", LogisticRegression().fit(X[:200], y[:200])), ("nb", GaussianNB())]
    with pytest.raises(NotFittedError, match="'nb' is not fitted"):
        CFEnsembleStackingClassifier(fitted, cv="prefit").fit(X[200:], y[200:])
    strings = [("logreg", LogisticRegression().fit(X[:200], np.where(y[:200], "pos", "neg")))]
    with pytest.raises(ValueError, match="classes \\['neg', 'pos'\\]; every estimator must"):
        CFEnsembleStackingClassifier(strings, cv="prefit").fit(X[200:], y[200:])
    y_names = np.where(np.arange(200) % 2 == 0, np.where(y[200:], "pos", "neg"), None)
    stack = _quiet_fit(CFEnsembleStackingClassifier(strings, cv="prefit"), X[200:], y_names)
    np.testing.assert_array_equal(stack.classes_, ["neg", "pos"])
    assert set(stack.predict(X[:50])) <= {"neg", "pos"}
    fitted[1] = ("nb", GaussianNB().fit(X[:200], y[:200]))
    y_semi = np.where(np.arange(200) % 2 == 0, y[200:], -1)
    stack = _quiet_fit(CFEnsembleStackingClassifier(fitted, cv="prefit"), X[200:], y_semi)
    assert stack.estimators_[0] is fitted[0][1]  # not refitted
    np.testing.assert_allclose(stack.P_[:, 0], fitted[0][1].predict_proba(X[200:])[:, 1])


@pytest.mark.slow
def test_parallel_base_fits_give_the_same_result(data):
    X, y = data
    final = CFEnsembleClassifier(random_state=0, solver=ALS(max_iter=10))
    a = _quiet_fit(CFEnsembleStackingClassifier(_base(), final, cv=3, n_jobs=1), X, y)
    b = _quiet_fit(CFEnsembleStackingClassifier(_base(), final, cv=3, n_jobs=2), X, y)
    np.testing.assert_allclose(a.P_, b.P_)
    np.testing.assert_allclose(a.label_distributions_[:, 1], b.label_distributions_[:, 1])


def test_final_estimator_parameters_are_nested_parameters():
    est = CFEnsembleStackingClassifier(_base(), CFEnsembleClassifier(rho=0.3))
    params = est.get_params()
    assert params["final_estimator__rho"] == 0.3
    assert params["logreg__C"] == 1.0
    est.set_params(final_estimator__latent_dim=3, nb__var_smoothing=1e-6)
    assert est.final_estimator.latent_dim == 3 and est.named_estimators.nb.var_smoothing == 1e-6
    assert "rho=0.3" in repr(est)
    with pytest.raises(TypeError, match="unexpected keyword"):
        CFEnsembleStackingClassifier(_base(), rho=0.3)


def test_an_estimator_may_be_named_lr(data):
    X, y = data  # the autograd learning rate is the final estimator's, not a clash here
    stack = _quiet_fit(CFEnsembleStackingClassifier([("lr", LogisticRegression())]), X, y)
    assert stack.named_estimators_.lr is stack.estimators_[0]


@pytest.mark.filterwarnings("ignore:The aggregator collapsed:cfensemble.CollapseWarning")
def test_works_in_pipeline_and_grid_search(data):
    X, y = data
    y_semi = np.where(np.arange(y.size) % 2 == 0, y, -1)
    pipe = make_pipeline(
        StandardScaler(),
        CFEnsembleStackingClassifier(
            [("logreg", LogisticRegression()), ("tree", DecisionTreeClassifier(max_depth=3))],
            CFEnsembleClassifier(random_state=0, solver=ALS(max_iter=20)),
            cv=3,
        ),
    )
    grid = GridSearchCV(
        pipe,
        {
            "cfensemblestackingclassifier__final_estimator__rho": [0.3, 0.9],
            "cfensemblestackingclassifier__tree__max_depth": [1, 4],
        },
        cv=3,
        scoring=labeled_scorer("average_precision"),
    )
    _quiet_fit(grid, X, y_semi)
    scores = grid.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and np.unique(scores).size > 1
    assert grid.predict_proba(X).shape == (y.size, 2)


def test_save_and_load_round_trip(data, tmp_path):
    X, y = data
    stack = _quiet_fit(CFEnsembleStackingClassifier(_base(), cv=3), X, y)
    stack.save(tmp_path / "stack.skops")
    loaded = load_stacking(tmp_path / "stack.skops")
    np.testing.assert_array_equal(loaded.predict_proba(X[:20]), stack.predict_proba(X[:20]))


def test_a_stack_with_nan_weights_is_neither_saved_nor_loaded(data, tmp_path):
    """A final estimator whose coef_ became NaN would predict NaN: refused both ways, as
    cfensemble.load refuses such a model file."""
    X, y = data
    stack = _quiet_fit(CFEnsembleStackingClassifier(_base(), cv=3), X, y)
    stack.save(tmp_path / "stack.skops")
    stack.final_estimator_.coef_ = np.full_like(stack.final_estimator_.coef_, np.nan)
    with pytest.raises(ValueError, match="NaN or infinite values in coef_"):
        stack.save(tmp_path / "nan.skops")
    import skops.io as sio

    sio.dump(stack, tmp_path / "nan.skops")  # written around the check
    with pytest.raises(ValueError, match=r"nan\.skops: the final estimator holds NaN"):
        load_stacking(tmp_path / "nan.skops")


def test_round_trip_of_scikit_learn_models_with_fitted_parts(data, tmp_path):
    """Trees, histogram boosting, an MLP and a calibrated model hold classes skops does not
    trust by default (``sklearn.tree._tree.Tree``, ...): scikit-learn's own, so they load
    without a name; a scikit-learn *function* is still refused."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.tree import DecisionTreeClassifier

    X, y = data
    base = [
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
        ("hgb", HistGradientBoostingClassifier(max_iter=5, random_state=0)),
        ("mlp", MLPClassifier((4,), max_iter=20, random_state=0)),
        ("cal", CalibratedClassifierCV(GaussianNB(), cv=2)),
    ]
    stack = _quiet_fit(CFEnsembleStackingClassifier(base, cv=3), X, y)
    stack.save(tmp_path / "stack.skops")
    loaded = load_stacking(tmp_path / "stack.skops")
    np.testing.assert_array_equal(loaded.predict_proba(X[:20]), stack.predict_proba(X[:20]))
    stack.hook_ = __import__("sklearn.utils", fromlist=["shuffle"]).shuffle
    stack.save(tmp_path / "hook.skops")
    with pytest.raises(ValueError, match=r"not trusted: \['sklearn.utils.*shuffle'\]"):
        load_stacking(tmp_path / "hook.skops")


def test_load_refuses_untrusted_types(data, tmp_path):
    X, y = data
    Recorder.seen = []
    stack = _quiet_fit(CFEnsembleStackingClassifier([("rec", Recorder())], cv=3), X, y)
    stack.save(tmp_path / "stack.skops")
    with pytest.raises(ValueError, match=r"not trusted: \['test_stacking.Recorder'\]"):
        load_stacking(tmp_path / "stack.skops")
    loaded = load_stacking(tmp_path / "stack.skops", trusted=["test_stacking.Recorder"])
    np.testing.assert_array_equal(loaded.predict_proba(X[:5]), stack.predict_proba(X[:5]))
    # a function is never trusted by its module's name, not even one of cfensemble's
    stack.hook_ = __import__("cfensemble.cli", fromlist=["main"]).main
    stack.save(tmp_path / "hook.skops")
    with pytest.raises(ValueError, match=r"not trusted: \['cfensemble.cli.main'"):
        load_stacking(tmp_path / "hook.skops", trusted=["test_stacking.Recorder"])
    (tmp_path / "bad.skops").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable skops file"):
        load_stacking(tmp_path / "bad.skops")
    with pytest.raises(FileNotFoundError, match="no stack file"):
        load_stacking(tmp_path / "absent.skops")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(estimators=[]), "non-empty list"),
        (dict(estimators="lr"), "non-empty list"),
        (dict(estimators=[("cv", LogisticRegression())]), "conflict with constructor arguments"),
        (dict(estimators=[("a", DecisionTreeClassifier())], stack_method="predict"), "one of"),
        (
            dict(estimators=[("a", GaussianNB())], final_estimator=LogisticRegression()),
            "final_estimator must be a CFEnsembleClassifier",
        ),
    ],
)
def test_bad_parameters(data, kwargs, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        CFEnsembleStackingClassifier(**kwargs).fit(X, y)


def test_one_labeled_class_is_an_error(data):
    X, y = data
    with pytest.raises(ValueError, match="both classes"):
        CFEnsembleStackingClassifier(_base()).fit(X, np.where(y == 1, -1, 0))
    with pytest.raises(ValueError, match="if -1 is a class here"):
        CFEnsembleStackingClassifier(_base()).fit(X, np.where(y == 1, 1, -1))


def _wine():
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_string_and_multiclass_labels_as_sklearn():
    """The string-label parts of scikit-learn's check_classifiers_classes (its last part,
    labels -1/+1, is the semi-supervised mark here)."""
    from sklearn.utils.estimator_checks import check_classifiers_predictions

    X, y = _wine()
    stack = CFEnsembleStackingClassifier(
        _base(), final_estimator=CFEnsembleClassifier(solver=ALS(max_iter=20)), cv=3
    )
    names = np.array(["one", "two", "three"])
    for labels in (names[y], names[y].astype(object)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            check_classifiers_predictions(X, labels, "CFEnsembleStackingClassifier", stack)
            binary = y != 2
            check_classifiers_predictions(
                X[binary], labels[binary], "CFEnsembleStackingClassifier", stack
            )


def test_multiclass_stack_builds_a_3d_p_from_out_of_fold_probabilities():
    X, y = _wine()
    y_semi = np.where(np.random.default_rng(0).random(y.size) < 0.5, y, -1)
    labeled = y_semi != -1
    stack = _quiet_fit(CFEnsembleStackingClassifier(_base(), cv=3), X, y_semi)
    assert stack.P_.shape == (y.size, 2, 3)
    np.testing.assert_allclose(stack.P_.sum(axis=2), 1.0)
    splits = list(
        __import__("sklearn.model_selection", fromlist=["StratifiedKFold"])
        .StratifiedKFold(3)
        .split(X[labeled], y[labeled])
    )
    expected = cross_val_predict(
        LogisticRegression(), X[labeled], y[labeled], cv=splits, method="predict_proba"
    )
    np.testing.assert_allclose(stack.P_[labeled, 0], expected, atol=1e-12)
    assert stack.transform(X[:5]).shape == (5, 6)
    assert list(stack.get_feature_names_out())[:3] == ["logreg__0", "logreg__1", "logreg__2"]
    proba = stack.predict_proba(X)
    assert proba.shape == (y.size, 3)
    np.testing.assert_array_equal(stack.predict(X), np.argmax(proba, axis=1))
    assert stack.score(X, y) > 0.9


def test_stack_sample_weight_reaches_both_levels():
    X, y = _wine()
    weight = np.random.default_rng(0).integers(1, 4, y.size).astype(float)
    stack = CFEnsembleStackingClassifier(
        [("logreg", LogisticRegression())], final_estimator=CFEnsembleClassifier(random_state=0)
    )
    a = _quiet_fit(clone(stack), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "latent_dim=2 is above the number", UserWarning)
        b = clone(stack).fit(X, y, sample_weight=weight)
    direct = LogisticRegression().fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(b.estimators_[0].coef_, direct.coef_, rtol=1e-6, atol=1e-8)
    assert np.abs(a.label_distributions_[:, 1] - b.label_distributions_[:, 1]).max() > 1e-6
    with pytest.raises(ValueError, match="one weight per row"):
        clone(stack).fit(X, y, sample_weight=weight[:5])


def test_load_and_load_stacking_point_to_each_other(data, tmp_path):
    X, y = data
    stack = _quiet_fit(CFEnsembleStackingClassifier(_base(), cv=3), X, y)
    stack.save(tmp_path / "stack.skops")
    with pytest.raises(ValueError, match=r"read it with cfensemble\.load_stacking"):
        cfensemble.load(tmp_path / "stack.skops")
    stack.final_estimator_.save(tmp_path / "model.cfe")
    with pytest.raises(ValueError, match=r"read it with cfensemble\.load\.$"):
        load_stacking(tmp_path / "model.cfe")


def test_verbose_prints_a_line_per_base_estimator(data, capsys):
    """The base estimators' cross-validation is the slow part of fit: verbose shows a line
    for each, with its time, as it finishes."""
    X, y = data
    base = [*_base(), ("tree", DecisionTreeClassifier(random_state=0))]
    _quiet_fit(CFEnsembleStackingClassifier(base, cv=3, verbose=True), X, y)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "cross-validated" in line]
    assert len(lines) == 3, err
    for u, (line, (name, _)) in enumerate(zip(lines, base, strict=True)):
        assert re.fullmatch(
            rf"cfensemble: base estimator {u + 1} of 3, '{name}': cross-validated "
            r"\(3 folds, predict_proba\) in \d+\.\d\d s",
            line,
        ), line
    assert "refitted the 3 base estimators" in err and "fitted the ensemble" in err
    assert "iteration" not in err  # the final estimator's own verbose is off
    _quiet_fit(CFEnsembleStackingClassifier(base, cv=3), X, y)
    assert capsys.readouterr().err == ""
