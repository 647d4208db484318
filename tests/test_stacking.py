"""CFEnsembleStackingClassifier: from features to an ensemble in one object."""

import warnings
from typing import ClassVar

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from cfensemble import CFEnsembleClassifier, CFEnsembleStackingClassifier

MULTICLASS = "the check uses 3 classes or string labels; y must be 0/1 (-1 = unlabeled)"
EXPECTED = {
    "check_estimators_dtypes": MULTICLASS,
    "check_classifier_data_not_an_array": MULTICLASS,
    "check_classifiers_classes": MULTICLASS,
    "check_fit2d_1feature": MULTICLASS,
}


def _base():
    return [("logreg", LogisticRegression()), ("nb", GaussianNB())]


@parametrize_with_checks(
    [CFEnsembleStackingClassifier(_base(), cv=3, max_iter=5)],
    expected_failed_checks=lambda est: EXPECTED,
)
def test_sklearn_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
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


def test_unlabeled_rows_never_train_the_base_estimators(data):
    X, y = data
    y_train = np.where(np.arange(y.size) % 3 == 0, y, -1)
    Recorder.seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CFEnsembleStackingClassifier([("rec", Recorder())], cv=4, random_state=0)
        clf.fit(X, y_train)
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


def test_out_of_fold_matrix_and_prediction(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CFEnsembleStackingClassifier(_base(), cv=5, random_state=0, latent_dim=2).fit(X, y)
    assert clf.P_.shape == (y.size, 2)
    # out of fold: not equal to the refitted estimators' in-sample predictions
    in_sample = clf.estimators_[0].predict_proba(X)[:, 1]
    assert not np.allclose(clf.P_[:, 0], in_sample)
    proba = clf.predict_proba(X[:10])
    assert proba.shape == (10, 2)
    np.testing.assert_allclose(proba, clf.ensemble_.predict_proba(clf.predict_base(X[:10])))
    assert clf.ensemble_.latent_dim == 2


def test_parallel_base_fits_give_the_same_result(data):
    X, y = data
    kw = dict(cv=3, random_state=0, max_iter=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = CFEnsembleStackingClassifier(_base(), n_jobs=1, **kw).fit(X, y)
        b = CFEnsembleStackingClassifier(_base(), n_jobs=2, **kw).fit(X, y)
    np.testing.assert_allclose(a.P_, b.P_)
    np.testing.assert_allclose(a.transduction_, b.transduction_)


def test_cf_parameters_are_parameters(data):
    est = CFEnsembleStackingClassifier(_base(), rho=0.3)
    params = est.get_params()
    assert params["rho"] == 0.3 and params["latent_dim"] == 2
    assert set(CFEnsembleClassifier().get_params()) < set(params)
    assert clone(est).rho == 0.3
    est.set_params(latent_dim=3, nb__var_smoothing=1e-6)
    assert est.latent_dim == 3
    assert "rho=0.3" in repr(est)
    with pytest.raises(TypeError, match="unknown parameter"):
        CFEnsembleStackingClassifier(_base(), bogus=1)


def test_works_in_pipeline_and_grid_search(data):
    X, y = data
    pipe = make_pipeline(
        StandardScaler(),
        CFEnsembleStackingClassifier(
            [("logreg", LogisticRegression()), ("tree", DecisionTreeClassifier(max_depth=3))],
            cv=3,
            random_state=0,
            max_iter=20,
        ),
    )
    grid = GridSearchCV(
        pipe,
        {
            "cfensemblestackingclassifier__rho": [0.3, 0.9],
            "cfensemblestackingclassifier__tree__max_depth": [2, 4],
        },
        cv=3,
        scoring="average_precision",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    assert set(grid.best_params_) == {
        "cfensemblestackingclassifier__rho",
        "cfensemblestackingclassifier__tree__max_depth",
    }
    assert grid.predict_proba(X).shape == (y.size, 2)
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()


@pytest.mark.parametrize(
    ("estimators", "match"),
    [
        ([], "non-empty list"),
        ("lr", "non-empty list"),
        ([("lr", LogisticRegression())], "conflict with constructor arguments"),
        (
            [("svm", __import__("sklearn.svm", fromlist=["LinearSVC"]).LinearSVC())],
            "predict_proba",
        ),
    ],
)
def test_bad_estimators(data, estimators, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        CFEnsembleStackingClassifier(estimators).fit(X, y)


def test_one_labeled_class_is_an_error(data):
    X, y = data
    with pytest.raises(ValueError, match="both classes"):
        CFEnsembleStackingClassifier(_base()).fit(X, np.where(y == 1, -1, 0))
