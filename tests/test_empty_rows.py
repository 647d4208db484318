"""Rows without any prediction: left out of the fit, given the class prior, counted in one
warning; an error for a strict run."""

import warnings

import numpy as np
import pytest

from cfensemble import CFEnsembleClassifier, EmptyRowsWarning, load, make_ensemble_problem


@pytest.fixture(scope="module")
def problem():
    P, y = make_ensemble_problem(
        n_samples=300, n_classifiers=5, positive_rate=0.2, missing_rate=0.3, random_state=0
    )
    y = y.astype(float)
    y[np.random.default_rng(0).random(300) < 0.6] = -1  # 40 % labeled
    return P, y


def _emptied(P, rows):
    P = P.copy()
    P[rows] = np.nan
    return P


def test_fit_leaves_them_out_and_gives_them_the_prior(problem):
    P, y = problem
    rows = np.array([4, 17, 250])
    with pytest.warns(EmptyRowsWarning, match=r"P has 3 of 300 row\(s\).*first: row 4") as got:
        model = CFEnsembleClassifier(random_state=0).fit(_emptied(P, rows), y)
    assert len([w for w in got if w.category is EmptyRowsWarning]) == 1
    keep = np.setdiff1d(np.arange(300), rows)
    ref = CFEnsembleClassifier(random_state=0).fit(P[keep], y[keep])
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        model.label_distributions_[keep, 1], ref.label_distributions_[:, 1], rtol=0, atol=1e-10
    )
    labeled = y[keep][y[keep] != -1]
    prior = np.bincount(labeled.astype(int), minlength=2) / labeled.size
    np.testing.assert_allclose(model.class_prior_, prior)
    np.testing.assert_array_equal(model.label_distributions_[rows, 1], prior[1])


def test_the_prior_counts_sample_weights(problem):
    P, y = problem
    weight = np.where(y == 1, 3.0, 1.0)
    with pytest.warns(EmptyRowsWarning):
        model = CFEnsembleClassifier().fit(_emptied(P, [0]), y, sample_weight=weight)
    labeled = (y != -1) & (np.arange(300) != 0)
    counts = np.bincount(y[labeled].astype(int), weight[labeled], minlength=2)
    np.testing.assert_allclose(model.class_prior_, counts / counts.sum())


def test_predict_proba_gives_them_the_prior_and_the_rest_as_before(problem):
    P, y = problem
    model = CFEnsembleClassifier(random_state=0).fit(P, y)
    new = _emptied(P[:20], [3, 9])
    with pytest.warns(EmptyRowsWarning, match=r"2 of 20 row\(s\).*given the class prior"):
        proba = model.predict_proba(new)
    np.testing.assert_array_equal(proba[[3, 9]], [model.class_prior_] * 2)
    others = np.setdiff1d(np.arange(20), [3, 9])
    np.testing.assert_allclose(proba[others], model.predict_proba(new[others]), atol=1e-12)
    with pytest.warns(EmptyRowsWarning):  # a batch of only such rows
        np.testing.assert_array_equal(
            model.predict_proba(np.full((2, 5), np.nan)), [model.class_prior_] * 2
        )


def test_strict_runs_make_it_an_error(problem):
    P, y = problem
    model = CFEnsembleClassifier().fit(P, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmptyRowsWarning)
        with pytest.raises(EmptyRowsWarning, match="1 of 10 row"):
            model.predict_proba(_emptied(P[:10], [0]))
        with pytest.raises(EmptyRowsWarning, match="left out of the fit"):
            CFEnsembleClassifier().fit(_emptied(P, [0]), y)


def test_without_labels_the_prior_is_the_mean_prediction(problem):
    P, _ = problem
    with pytest.warns(EmptyRowsWarning), pytest.warns(UserWarning, match="no labeled rows"):
        model = CFEnsembleClassifier().fit(_emptied(P, [1]), np.full(300, -1))
    mean = np.delete(model.label_distributions_[:, 1], 1).mean()
    np.testing.assert_allclose(model.class_prior_, [1 - mean, mean])


def test_multiclass_prior_per_class():
    P, y = make_ensemble_problem(
        n_samples=240, n_classifiers=4, n_classes=3, missing_rate=0.2, random_state=1
    )
    y = np.where(np.arange(240) % 2 == 0, y, -1)
    with pytest.warns(EmptyRowsWarning):
        model = CFEnsembleClassifier().fit(_emptied(P, [2]), y)
    labeled = y[(y != -1) & (np.arange(240) != 2)]
    np.testing.assert_allclose(
        model.class_prior_, np.bincount(labeled, minlength=3) / labeled.size
    )
    np.testing.assert_array_equal(model.label_distributions_[2], model.class_prior_)
    with pytest.warns(EmptyRowsWarning):
        proba = model.predict_proba(_emptied(P[:5], [0]))
    np.testing.assert_array_equal(proba[0], model.class_prior_)


def test_impute_and_fold_in_warn_and_stay_finite(problem):
    P, y = problem
    model = CFEnsembleClassifier().fit(P, y)
    new = _emptied(P[:6], [2])
    with pytest.warns(EmptyRowsWarning, match="filled from the classifiers' biases"):
        filled = model.impute(new)
    assert np.all((filled >= 0) & (filled <= 1))
    with pytest.warns(EmptyRowsWarning, match="their factors are 0"):
        Y, c = model.fold_in(new)
    np.testing.assert_array_equal(Y[2], 0.0)
    assert c[2] == 0.0


def test_a_class_whose_labeled_rows_are_all_empty_is_refused(problem):
    P, y = problem
    positives = np.flatnonzero(y == 1)
    with pytest.raises(ValueError, match="Every labeled row of class index 1"):
        with pytest.warns(EmptyRowsWarning, match="29 of 300"):
            CFEnsembleClassifier().fit(_emptied(P, positives), y)


def test_model_files_keep_the_prior(problem, tmp_path):
    P, y = problem
    model = CFEnsembleClassifier().fit(P, y)
    model.class_prior_ = np.array([0.25, 0.75])
    model.save(tmp_path / "m.cfe")
    loaded = load(tmp_path / "m.cfe")
    np.testing.assert_array_equal(loaded.class_prior_, [0.25, 0.75])
    del model.class_prior_  # a file written before 1.0: the mean of the probabilities
    model.save(tmp_path / "old.cfe")
    mean = model.label_distributions_[:, 1].mean()
    np.testing.assert_allclose(load(tmp_path / "old.cfe").class_prior_, [1 - mean, mean])


def test_dask_predictions_give_them_the_prior(problem):
    da = pytest.importorskip("dask.array")
    import dask

    from cfensemble.dask import DaskCFEnsembleClassifier

    P, y = problem
    with dask.config.set(scheduler="synchronous"):
        model = DaskCFEnsembleClassifier(random_state=0).fit(
            da.from_array(P, chunks=100), da.from_array(y, chunks=100)
        )
        new = _emptied(P[:50], [7])
        with pytest.warns(EmptyRowsWarning, match="given the class prior"):
            proba = model.predict_proba(da.from_array(new, chunks=25)).compute()
    np.testing.assert_allclose(proba[7], model.class_prior_)
    with pytest.warns(EmptyRowsWarning):
        np.testing.assert_allclose(proba, model.to_model().predict_proba(new), atol=1e-10)


def test_the_command_line_predicts_them_and_refuses_them_with_strict(problem, tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    from cfensemble.cli import main

    P, y = problem
    frame = pd.DataFrame(_emptied(P, [5]), columns=[f"m{u}" for u in range(5)])
    frame.assign(y=np.where(y == -1, np.nan, y)).to_csv(tmp_path / "in.csv", index=False)
    frame.iloc[:10].to_csv(tmp_path / "new.csv", index=False)
    fit = ["fit", str(tmp_path / "in.csv"), "--label-column", "y", "--model"]
    with pytest.warns(EmptyRowsWarning, match=r"P has 1 of 300 row\(s\)"):
        assert main([*fit, str(tmp_path / "m.cfe"), "--quiet"]) == 0
    predict = ["predict", "--model", str(tmp_path / "m.cfe"), str(tmp_path / "new.csv")]
    with pytest.warns(EmptyRowsWarning, match=r"1 of 10 row\(s\)"):
        assert main([*predict, "-o", str(tmp_path / "out.csv")]) == 0
    out = pd.read_csv(tmp_path / "out.csv")
    model = load(tmp_path / "m.cfe")
    assert out["probability"][5] == pytest.approx(model.class_prior_[1])
    assert main([*predict, "-o", str(tmp_path / "o2.csv"), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "error: P has 1 of 10 row(s) with every prediction missing" in err
    assert not (tmp_path / "o2.csv").exists()
    assert main([*fit, str(tmp_path / "m2.cfe"), "--strict", "--quiet"]) == 2
    assert not (tmp_path / "m2.cfe").exists()
