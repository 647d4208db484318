"""cfensemble.dask: the distributed fit equals the in-memory one; lazy outputs; failures."""

import os
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import dask  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import cfensemble  # noqa: E402
from cfensemble import (  # noqa: E402
    ALS,
    CFEnsembleClassifier,
    CollapseWarning,
    make_ensemble_problem,
)
from cfensemble.dask import DaskCFEnsembleClassifier  # noqa: E402


@pytest.fixture(scope="module")
def problem():
    P, y = make_ensemble_problem(
        n_samples=8_000,
        n_classifiers=10,
        positive_rate=0.05,
        error_correlation=0.5,
        missing_rate=0.3,
        random_state=0,
    )
    y_semi = np.where(np.random.default_rng(0).random(y.size) < 0.2, y, -1)
    return P, y_semi


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.fixture(scope="module")
def reference(problem):
    """The in-memory default fit the cluster fits are compared with (fitted once)."""
    P, y = problem
    return CFEnsembleClassifier(random_state=0).fit(P, y)


def _abstaining(n):
    """P of the module's kind of problem (n rows, complete) where each classifier leaves
    out its 30 % least confident predictions (a row left empty gets 0.5 back)."""
    full = make_ensemble_problem(
        n_samples=n, n_classifiers=10, positive_rate=0.05, error_correlation=0.5,
        random_state=0,
    )[0]  # fmt: skip
    distance = np.abs(full - 0.5)
    P = np.where(distance < np.quantile(distance, 0.3, axis=0), np.nan, full)
    P[np.isnan(P).all(axis=1), 0] = 0.5
    return P


def _chunked(P, k):
    return da.from_array(P, chunks=(-(-P.shape[0] // k), -1))


def test_local_scheduler_equals_in_memory(problem):
    P, y = problem
    params = dict(random_state=0, rho=0.7, solver=ALS(max_iter=30))
    ref = CFEnsembleClassifier(**params).fit(P, y)
    with dask.config.set(scheduler="threads"):
        clf = DaskCFEnsembleClassifier(**params).fit(_chunked(P, 3), y)
        transduction = clf.label_distributions_[:, 1].compute()
    assert clf.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(transduction, ref.label_distributions_[:, 1], rtol=0, atol=1e-8)
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=0, atol=1e-8)


def test_class_weight_warmup_as_in_memory(problem):
    P, y = problem
    # the costs keep their full size while the class weights ramp up
    params = dict(
        random_state=0, rho=0.7, solver=ALS(max_iter=15), class_weight_warmup=5, fn_cost=2.0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = CFEnsembleClassifier(**params).fit(P, y)
        with dask.config.set(scheduler="threads"):
            clf = DaskCFEnsembleClassifier(**params).fit(_chunked(P, 3), y)
    assert clf.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(clf.loss_curve_["total"], ref.loss_curve_["total"], rtol=1e-9)
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=0, atol=1e-8)


def test_aggregator_l2_auto_counts_as_in_memory(problem):
    """aggregator_l2="auto" counts the labeled rows gathered from the chunks (with their
    sample weights): two labeled positives give the same raised ridge and fit."""
    P, y = problem
    P, y = P[:2000], y[:2000].copy()
    y[np.flatnonzero(y == 1)[2:]] = -1
    weight = np.where(y == 0, 2.0, 1.0)
    ref = CFEnsembleClassifier(random_state=0).fit(P, y, sample_weight=weight)
    assert ref.aggregator_l2_ == pytest.approx(2.5e-3)
    with dask.config.set(scheduler="threads"):
        clf = DaskCFEnsembleClassifier(random_state=0).fit(_chunked(P, 3), y, weight)
    assert clf.aggregator_l2_ == ref.aggregator_l2_
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=0, atol=1e-8)


def test_mean_fallback_as_in_memory(problem):
    """Labels that contradict every classifier: every weight 0, the mean aggregator
    predicts, on the cluster as in memory."""
    P, y = problem
    y_flip = np.where(y == -1, -1, 1 - y)[:2000]
    with pytest.warns(CollapseWarning, match="every weight is 0"):
        ref = CFEnsembleClassifier(random_state=0).fit(P[:2000], y_flip)
    with dask.config.set(scheduler="threads"), pytest.warns(CollapseWarning):
        clf = DaskCFEnsembleClassifier(random_state=0).fit(_chunked(P[:2000], 3), y_flip)
        transduction = clf.label_distributions_[:, 1].compute()
    assert clf.diagnostics_["mean_fallback"] and not clf.aggregator_trained_
    np.testing.assert_array_equal(clf.coef_, ref.coef_)
    np.testing.assert_allclose(transduction, ref.label_distributions_[:, 1], rtol=0, atol=1e-8)


def test_abstention_is_chosen_as_in_memory(problem):
    """abstention="auto" tests a seeded sample of rows gathered from the chunks: the same
    rows, statistics and choice as in memory."""
    _, y = problem
    P = _abstaining(y.size)
    ref = CFEnsembleClassifier(random_state=0).fit(P, y)
    assert ref.abstention_ > 0
    with dask.config.set(scheduler="threads"):
        clf = DaskCFEnsembleClassifier(random_state=0).fit(_chunked(P, 3), y)
        transduction = clf.label_distributions_[:, 1].compute()
    assert clf.abstention_ == ref.abstention_
    np.testing.assert_allclose(clf.abstention_test_["z"], ref.abstention_test_["z"], rtol=1e-10)
    np.testing.assert_allclose(transduction, ref.label_distributions_[:, 1], rtol=0, atol=1e-8)


def test_shrinkage_is_chosen_as_in_memory(problem):
    """aggregator_shrinkage="auto" cross-validates the aggregator on the labeled rows'
    input gathered from the chunks: the same scores and choice as in memory."""
    P, y = problem
    P = P[:3000].copy()
    P[:, 5:] = np.clip(P[:, 5:] + np.random.default_rng(0).normal(0, 0.3, (3000, 5)), 0, 1)
    ref = CFEnsembleClassifier(random_state=0, aggregator_shrinkage="auto").fit(P, y[:3000])
    assert ref.aggregator_shrinkage_ != 0.1  # five noisy classifiers: not the fallback
    with dask.config.set(scheduler="threads"):
        clf = DaskCFEnsembleClassifier(random_state=0, aggregator_shrinkage="auto")
        clf.fit(_chunked(P, 3), y[:3000])
        transduction = clf.label_distributions_[:, 1].compute()
    assert clf.aggregator_shrinkage_ == ref.aggregator_shrinkage_
    np.testing.assert_allclose(
        clf.shrinkage_cv_["mean_pr_auc"], ref.shrinkage_cv_["mean_pr_auc"], rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(transduction, ref.label_distributions_[:, 1], rtol=0, atol=1e-8)


@pytest.mark.parametrize("target", ["consensus", "separation"])
def test_consensus_target_is_the_in_memory_one(problem, target):
    """shrinkage_target="consensus" adds the chunks' moments ("separation" also uses the
    gathered labeled rows): the target and the fit as in memory, with sample weights (rows
    of weight 0 count for nothing in both)."""
    P, y = problem
    P, y = P[:3000], y[:3000]
    weights = np.random.default_rng(1).integers(0, 3, size=y.size).astype(float)
    ref = CFEnsembleClassifier(random_state=0, shrinkage_target=target)
    ref.fit(P, y, sample_weight=weights)
    assert not np.allclose(ref.shrinkage_target_, 1.0)
    if target == "separation":
        consensus = CFEnsembleClassifier(random_state=0, shrinkage_target="consensus")
        consensus.fit(P, y, sample_weight=weights)
        assert not np.allclose(ref.shrinkage_target_, consensus.shrinkage_target_)
    with dask.config.set(scheduler="threads"):
        clf = DaskCFEnsembleClassifier(random_state=0, shrinkage_target=target)
        clf.fit(_chunked(P, 3), y, sample_weight=weights)
        transduction = clf.label_distributions_[:, 1].compute()
    np.testing.assert_allclose(clf.shrinkage_target_, ref.shrinkage_target_, rtol=1e-12)
    np.testing.assert_allclose(transduction, ref.label_distributions_[:, 1], rtol=0, atol=1e-8)


def test_abstention_ignores_rows_of_weight_zero_as_in_memory(problem):
    """Rows of sample_weight 0 are not in the in-memory fit's data: the Dask test samples
    from the rows of weight > 0 alike (the same rows, the same statistics)."""
    _, y = problem
    y = y[:4000]
    P = _abstaining(y.size)
    weights = np.random.default_rng(2).integers(0, 3, size=y.size).astype(float)  # 1/3 zeros
    ref = CFEnsembleClassifier(random_state=0).fit(P, y, sample_weight=weights)
    with dask.config.set(scheduler="threads"):
        clf = DaskCFEnsembleClassifier(random_state=0).fit(
            _chunked(P, 3), y, sample_weight=weights
        )
    assert ref.abstention_ == clf.abstention_ == 0.5
    np.testing.assert_allclose(clf.abstention_test_["z"], ref.abstention_test_["z"], rtol=1e-10)


@pytest.mark.parametrize(
    "chunks", [1, pytest.param(2, marks=pytest.mark.slow), pytest.param(7, marks=pytest.mark.slow)]
)
def test_cluster_fit_equals_in_memory(problem, reference, client, chunks):
    P, y = problem
    ref = reference
    clf = DaskCFEnsembleClassifier(random_state=0).fit(_chunked(P, chunks), da.from_array(y))
    assert isinstance(clf.transduction_, da.Array)
    np.testing.assert_allclose(
        clf.label_distributions_[:, 1].compute(), ref.label_distributions_[:, 1], atol=1e-8
    )
    np.testing.assert_allclose(
        clf.instance_factors_.compute(), ref.instance_factors_, rtol=0, atol=1e-8
    )
    np.testing.assert_allclose(clf.instance_bias_.compute(), ref.instance_bias_, atol=1e-8)
    P_new = P[:500] * 0.9
    lazy = clf.predict_proba(da.from_array(P_new, chunks=(200, -1)))
    np.testing.assert_allclose(lazy.compute(), ref.predict_proba(P_new), atol=1e-8)


@pytest.mark.slow
def test_sample_weight_and_fn_cost_as_in_memory(problem, client):
    P, y = problem
    weights = np.random.default_rng(1).integers(1, 4, size=y.size).astype(float)
    params = dict(random_state=0, fn_cost=2.0, solver=ALS(max_iter=20))
    ref = CFEnsembleClassifier(**params).fit(P, y, sample_weight=weights)
    clf = DaskCFEnsembleClassifier(**params).fit(_chunked(P, 4), y, sample_weight=weights)
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=1e-8)
    np.testing.assert_allclose(clf.intercept_, ref.intercept_, atol=1e-8)
    lazy = da.from_array(weights, chunks=(2_000,))  # a dask array: only labeled rows gathered
    again = DaskCFEnsembleClassifier(**params).fit(_chunked(P, 4), y, sample_weight=lazy)
    np.testing.assert_allclose(again.coef_, ref.coef_, atol=1e-8)
    with pytest.raises(ValueError, match="sample_weight must be finite and >= 0"):
        DaskCFEnsembleClassifier(**params).fit(_chunked(P, 4), y, sample_weight=-weights)


def test_no_labels_is_a_pure_reconstruction(problem):
    P, y = problem
    unlabeled = np.full(y.size, -1)
    with dask.config.set(scheduler="threads"), pytest.warns(UserWarning, match="no labeled"):
        clf = DaskCFEnsembleClassifier(random_state=0).fit(_chunked(P, 3), unlabeled)
    with pytest.warns(UserWarning, match="no labeled"):
        ref = CFEnsembleClassifier(random_state=0).fit(P, unlabeled)
    with dask.config.set(scheduler="threads"):
        np.testing.assert_allclose(
            clf.label_distributions_[:, 1].compute(), ref.label_distributions_[:, 1], atol=1e-8
        )


@pytest.mark.filterwarnings("ignore:ALS did not converge:sklearn.exceptions.ConvergenceWarning")
def test_fitted_estimator_pickles(problem):
    import pickle

    P, y = problem
    with dask.config.set(scheduler="threads"):
        clf = DaskCFEnsembleClassifier(random_state=0, solver=ALS(max_iter=5)).fit(
            _chunked(P[:2000], 2), y[:2000]
        )
        again = pickle.loads(pickle.dumps(clf))
        np.testing.assert_array_equal(
            again.label_distributions_[:, 1].compute(), clf.label_distributions_[:, 1].compute()
        )


def test_to_model_folds_in_and_saves_no_rows(problem, client, tmp_path):
    P, y = problem
    clf = DaskCFEnsembleClassifier(random_state=0).fit(_chunked(P, 2), y)
    model = clf.to_model()
    assert type(model) is CFEnsembleClassifier
    np.testing.assert_allclose(
        model.predict_proba(P[:100]), clf.predict_proba(_chunked(P[:100], 2)).compute()
    )
    lazy = clf.impute(_chunked(P[:100], 2))
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), model.impute(P[:100]), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(clf.impute(P[:10]), model.impute(P[:10]))  # in memory
    clf.save(tmp_path / "model.cfe")  # the model of to_model(): loads as the in-memory one
    loaded = cfensemble.load(tmp_path / "model.cfe")
    assert type(loaded) is CFEnsembleClassifier
    assert loaded.instance_factors_.shape == (0, clf.latent_dim_)
    assert (tmp_path / "model.cfe").stat().st_size < 20_000  # no per-row array
    np.testing.assert_array_equal(loaded.predict_proba(P[:50]), model.predict_proba(P[:50]))
    full = clf.to_model(include_rows=True)  # asked for: the per-row arrays too
    assert full.instance_factors_.shape == (P.shape[0], clf.latent_dim_)
    np.testing.assert_array_equal(
        full.label_distributions_[:, 1], clf.label_distributions_[:, 1].compute()
    )


def test_a_dask_dataframe_keeps_its_column_names(problem, tmp_path):
    """A dask DataFrame P (columns of Parquet files) sets feature_names_in_ (as a pandas one
    does in memory), the same fit as its array; new rows' names are checked; the model file
    keeps them; a refit on an array removes them."""
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    P, y = problem
    P, y = P[:3000], y[:3000]
    names = [f"m{u}" for u in range(P.shape[1])]
    frame = pd.DataFrame(P, columns=names)
    frame["y"] = pd.array(np.where(y == -1, 0, y), dtype="Int64")
    frame.loc[y == -1, "y"] = pd.NA  # unlabeled: missing, as read from a file
    pytest.importorskip("pyarrow")
    for k in range(3):  # read back from files: a column selection of Parquet files once
        frame.iloc[k * 1000 : (k + 1) * 1000].to_parquet(tmp_path / f"p{k}.parquet")
    lazy = dd.read_parquet(tmp_path / "p*.parquet")  # failed in to_dask_array (dask 2026.8)
    params = dict(random_state=0, solver=ALS(max_iter=20))
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = DaskCFEnsembleClassifier(**params).fit(
            lazy[names].astype("float64"), lazy["y"].astype("float64")
        )
        assert clf.feature_names_in_.tolist() == names and clf.n_features_in_ == len(names)
        array = DaskCFEnsembleClassifier(**params).fit(_chunked(P, 3), y)
        np.testing.assert_allclose(clf.coef_, array.coef_, rtol=0, atol=1e-12)
        assert not hasattr(array, "feature_names_in_")
        np.testing.assert_allclose(  # a dask frame, a pandas frame: the same predictions
            clf.predict_proba(lazy[names]).compute(), clf.predict_proba(frame[names]), atol=1e-12
        )
        with pytest.raises(ValueError, match="feature names should match"):
            clf.predict_proba(lazy[names[::-1]])
        with pytest.warns(UserWarning, match="does not have valid feature names"):
            clf.predict_proba(_chunked(P[:100], 2))
        clf.save(tmp_path / "named.cfe")
        assert cfensemble.load(tmp_path / "named.cfe").feature_names_in_.tolist() == names
        clf.fit(_chunked(P, 3), y)
        assert not hasattr(clf, "feature_names_in_")


def test_class_names_in_memory_and_numbers_on_dask(problem):
    """y in memory may hold any two class names (as for CFEnsembleClassifier: same fit,
    predict gives the names); a dask y of names is a clear error, not a worker traceback."""
    P, y = problem
    names = np.where(y == -1, None, np.where(y == 1, "pos", "neg")).astype(object)
    with dask.config.set(scheduler="synchronous"):
        numbers = DaskCFEnsembleClassifier(random_state=0, solver=ALS(max_iter=20))
        numbers.fit(_chunked(P, 2), y)
        named = DaskCFEnsembleClassifier(random_state=0, solver=ALS(max_iter=20))
        named.fit(_chunked(P, 2), names)
        assert named.classes_.tolist() == ["neg", "pos"]
        np.testing.assert_array_equal(named.coef_, numbers.coef_)
        lazy = named.predict(_chunked(P[:200], 2))
        assert isinstance(lazy, da.Array)
        expected = np.where(numbers.predict(P[:200]) == 1, "pos", "neg")
        np.testing.assert_array_equal(lazy.compute(), expected)
        np.testing.assert_array_equal(named.predict(P[:200]), expected)  # in memory
        with pytest.raises(ValueError, match="y as a dask array must hold numbers"):
            DaskCFEnsembleClassifier().fit(_chunked(P, 2), da.from_array(names.astype(str)))
        three = np.where(np.arange(P.shape[0]) % 3 == 0, "c", names).astype(object)
        with pytest.raises(ValueError, match="binary only"):
            DaskCFEnsembleClassifier().fit(_chunked(P, 2), three)


@pytest.mark.slow
def test_a_lost_worker_is_recomputed(problem, client):
    P, y = problem
    Pd = _chunked(P, 6)
    expected = DaskCFEnsembleClassifier(random_state=0, rho=0.7).fit(Pd, y)
    killed = []

    def kill_a_worker(iteration, losses):
        if iteration == 2 and not killed:
            worker = next(iter(client.scheduler_info()["workers"]))
            killed.append(worker)
            try:  # the worker dies while answering: the call itself fails
                client.run(os._exit, 1, workers=[worker])
            except Exception:  # any comm error: the death is the point
                pass

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed warns about the lost worker
        clf = DaskCFEnsembleClassifier(random_state=0, rho=0.7, solver=ALS(callback=kill_a_worker))
        clf.fit(Pd, y)
    assert killed and killed[0] not in client.scheduler_info()["workers"]  # it did die
    np.testing.assert_allclose(
        clf.label_distributions_[:, 1].compute(),
        expected.label_distributions_[:, 1].compute(),
        rtol=0,
        atol=1e-12,
    )


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (dict(solver="torch"), "solver='als' only"),
        (dict(latent_dim="auto"), "numbers for latent_dim and rho"),
        (dict(confidence=lambda P, y: np.ones_like(P)), "confidence strategy name"),
    ],
)
def test_unsupported_parameters_are_clear_errors(problem, params, match):
    P, y = problem
    with pytest.raises(ValueError, match=match):
        DaskCFEnsembleClassifier(**params).fit(_chunked(P[:1000], 2), y[:1000])


def test_bad_values_are_reported_from_the_chunk(problem):
    P, y = problem
    bad = P[:1000].copy()
    bad[700, 3] = 1.5
    with (
        dask.config.set(scheduler="threads"),
        pytest.raises(ValueError, match="P must hold") as err,
    ):
        DaskCFEnsembleClassifier().fit(_chunked(bad, 2), y[:1000])
    assert "in the chunk of rows 500..999" in str(err.value)
    with pytest.raises(ValueError, match="y has 999 entries but P has 1000 rows"):
        DaskCFEnsembleClassifier().fit(_chunked(P[:1000], 2), y[:999])
    with pytest.raises(ValueError, match=r"y must have shape \(1000,\)"):  # a dask y
        DaskCFEnsembleClassifier().fit(_chunked(P[:1000], 2), da.from_array(y[:999]))
    for wrong, ndim in ((P[:100, 0], 1), (np.stack([P[:100], P[:100]], axis=2), 3)):
        with pytest.raises(ValueError, match=f"P must be 2-D .* got {ndim} dimension"):
            DaskCFEnsembleClassifier().fit(wrong, y[:100])  # in memory: split into chunks
        with pytest.raises(ValueError, match=f"P must be 2-D .* got {ndim} dimension"):
            DaskCFEnsembleClassifier().fit(da.from_array(wrong), y[:100])
    with pytest.raises(ValueError, match=r"P has 0 sample\(s\) \(shape=\(0, 10\)\)"):
        DaskCFEnsembleClassifier().fit(da.zeros((0, 10), chunks=(1, 10)), da.zeros(0, chunks=1))
    with pytest.raises(ValueError, match=r"P has 0 sample\(s\) \(shape=\(0, 10\)\)"):
        DaskCFEnsembleClassifier().fit(da.zeros((0, 10), chunks=(1, 10)), da.zeros(0, chunks=1))
    with pytest.raises(ValueError, match="binary only"):
        DaskCFEnsembleClassifier().fit(np.stack([P[:100], P[:100]], axis=2), y[:100])
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = DaskCFEnsembleClassifier(solver=ALS(max_iter=2)).fit(_chunked(P[:500], 2), y[:500])
    with pytest.raises(ValueError, match=r"P must be 2-D .* got 1 dimension"):
        clf.predict_proba(da.from_array(P[:10, 0]))
    with pytest.raises(ValueError, match=r"has 3 features, but .* expecting 10"):
        clf.predict_proba(da.from_array(P[:10, :3]))


@pytest.fixture
def dataset(tmp_path, problem):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    P, y = problem
    P, y = P[:3000], y[:3000]
    frame = pd.DataFrame(P, columns=[f"m{u}" for u in range(P.shape[1])])
    frame.insert(0, "id", [f"r{i:05d}" for i in range(len(frame))])
    frame["y"] = pd.array(np.where(y == -1, 0, y).astype(int), dtype="Int64")
    frame.loc[y == -1, "y"] = pd.NA
    (tmp_path / "data").mkdir()
    for k in range(3):
        frame.iloc[k * 1000 : (k + 1) * 1000].to_parquet(tmp_path / "data" / f"p{k}.parquet")
    frame.to_csv(tmp_path / "all.csv", index=False)
    return tmp_path


@pytest.mark.slow  # 4 s: the CLI fit and predict on a cluster (CI runs -m slow)
def test_cli_fits_a_parquet_dataset_on_a_cluster(dataset, client, capsys):
    pd = pytest.importorskip("pandas")
    from cfensemble.cli import main

    common = ["--label-column", "y", "--id-column", "id", "--random-state", "0"]
    pattern = str(dataset / "data" / "*.parquet")
    address = client.scheduler.address
    model = dataset / "m.cfe"
    assert main(["fit", pattern, *common, "--model", str(model), "--scheduler", address]) == 0
    assert "from 3 files" in capsys.readouterr().out
    assert main(["fit", str(dataset / "all.csv"), *common, "--model", str(dataset / "c.cfe")]) == 0
    distributed_out = pd.read_parquet(dataset / "m.predictions")
    in_memory = pd.read_csv(dataset / "c.predictions.csv", dtype={"id": str})
    assert list(distributed_out.id) == list(in_memory.id)  # IDs and order kept
    assert list(distributed_out.labeled) == list(in_memory.labeled)
    np.testing.assert_allclose(distributed_out.probability, in_memory.probability, atol=1e-8)
    # predict on the directory (local scheduler), written as a dataset
    out = dataset / "pred"
    assert main(["predict", "--model", str(model), str(dataset / "data"), "-o", str(out)]) == 0
    predicted = pd.read_parquet(out)
    np.testing.assert_allclose(predicted.probability, distributed_out.probability, atol=1e-12)
    assert main(["predict", "--model", str(model), str(dataset / "data"), "-o", str(out)]) == 2
    assert "not an empty directory" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_predict_impute_on_a_dataset(dataset, reference):
    """``predict --impute`` on a Parquet dataset (the local scheduler): the classifier
    columns with the fill-in, as in memory."""
    pd = pytest.importorskip("pandas")
    from cfensemble.cli import main

    model = dataset / "m.cfe"
    reference.save(model, {"classifier_columns": [f"m{u}" for u in range(10)]})
    out = dataset / "filled"
    assert main(["predict", "--model", str(model), str(dataset / "data"), "-o", str(out),
                 "--impute", "--id-column", "id"]) == 0  # fmt: skip
    table = pd.read_parquet(out)
    assert list(table.columns) == ["id", *(f"m{u}" for u in range(10))]
    P = pd.read_csv(dataset / "all.csv")[[f"m{u}" for u in range(10)]].to_numpy()
    expected = reference.impute(P)
    np.testing.assert_allclose(table.drop(columns="id").to_numpy(), expected, atol=1e-12)


@pytest.mark.slow
def test_cli_dataset_errors(dataset, capsys, monkeypatch):
    from cfensemble.cli import _dask, main

    monkeypatch.setattr(_dask, "CONNECT_TIMEOUT", "2s")  # nothing listens there
    base = ["--label-column", "y", "--model", str(dataset / "x.cfe")]
    assert main(["fit", str(dataset / "none" / "*.parquet"), *base]) == 2
    assert "no files match" in capsys.readouterr().err
    assert main(["fit", str(dataset / "data"), "--label-column", "label", "--model", "x"]) == 2
    assert "no column 'label'" in capsys.readouterr().err
    assert main(["fit", str(dataset / "data"), *base]) == 2  # the ID column is text
    assert "column 'id' is not numeric" in capsys.readouterr().err
    bad = ["fit", str(dataset / "data"), *base, "--scheduler", "tcp://127.0.0.1:9"]
    assert main(bad) == 2
    assert "--scheduler tcp://127.0.0.1:9: cannot connect" in capsys.readouterr().err
