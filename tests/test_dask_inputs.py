"""cfensemble.dask on the inputs dask makes: empty chunks and partitions, unknown chunk
sizes, Parquet datasets with an empty file or a text cell in a later file."""

import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")

import dask  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from cfensemble import ALS, make_ensemble_problem  # noqa: E402
from cfensemble.dask import DaskCFEnsembleClassifier  # noqa: E402

NAMES = [f"m{u}" for u in range(5)]


@pytest.fixture(scope="module")
def small():
    """400 rows, 5 classifiers, every other row labeled."""
    P, y = make_ensemble_problem(
        n_samples=400, n_classifiers=5, positive_rate=0.1, missing_rate=0.3, random_state=0
    )
    return P, np.where(np.arange(y.size) % 2 == 0, y, -1).astype(np.float64)


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _fit(P, y, sample_weight=None):
    clf = DaskCFEnsembleClassifier(random_state=0, solver=ALS(max_iter=10))
    return clf.fit(P, y, sample_weight)


def _assert_same_fit(clf, ref, P_clf, P_ref):
    """The same fitted model, per-row attributes and predictions (to rounding)."""
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(clf.intercept_, ref.intercept_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(clf.classifier_factors_, ref.classifier_factors_, atol=1e-12)
    np.testing.assert_array_equal(clf.labeled_index_, ref.labeled_index_)
    for name in ("label_distributions_", "instance_factors_", "instance_bias_"):
        got, expected = dask.compute(getattr(clf, name), getattr(ref, name))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, err_msg=name)
    for method in ("predict_proba", "impute", "predict"):
        got, expected = dask.compute(getattr(clf, method)(P_clf), getattr(ref, method)(P_ref))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, err_msg=method)


def test_empty_chunks_are_ignored(small):
    """Empty chunks (normal in dask) change nothing: the fit and every output as without
    them; the lazy outputs keep P's chunks."""
    P, y = small
    chunks = (0, 200, 0, 200)
    P_empty = da.from_array(P, chunks=(chunks, (5,)))
    y_empty = da.from_array(y, chunks=(chunks,))
    P_plain = P_empty.rechunk(((200, 200), (5,)))
    ref = _fit(P_plain, y)
    clf = _fit(P_empty, y_empty)
    _assert_same_fit(clf, ref, P_empty, P_plain)
    assert clf.transduction_.chunks == (chunks,)
    assert clf.predict_proba(P_empty).chunks == (chunks, (2,))
    full = clf.to_model(include_rows=True)
    np.testing.assert_allclose(
        full.label_distributions_[:, 1], ref.label_distributions_[:, 1].compute(), atol=1e-12
    )
    weights = np.where(np.arange(y.size) % 3 == 0, 2.0, 1.0)
    weighted = _fit(P_empty, y_empty, da.from_array(weights, chunks=(chunks,)))
    np.testing.assert_allclose(weighted.coef_, _fit(P_plain, y, weights).coef_, atol=1e-12)


def test_a_filtered_dataframe_with_empty_partitions(small):
    """A dask DataFrame filtered so that partitions are empty: as the equivalent array."""
    P, y = small
    frame = pd.DataFrame(P, columns=NAMES).assign(y=y)
    lazy = dd.from_pandas(frame, npartitions=4)
    kept = lazy.loc[lazy.index < 150]  # partitions of 100, 50, 0 and 0 rows
    clf = _fit(kept[NAMES], kept["y"])
    ref = _fit(da.from_array(P[:150], chunks=(100, -1)), y[:150])
    _assert_same_fit(clf, ref, kept[NAMES], P[:150])
    assert clf.feature_names_in_.tolist() == NAMES


def test_unknown_chunk_sizes_are_computed(small):
    """Arrays of unknown chunk sizes (``ddf.values``, ``to_dask_array()``): computed, for
    P, y and sample_weight alike; the arrays given are left as they were."""
    P, y = small
    weights = np.where(np.arange(y.size) % 3 == 0, 2.0, 1.0)
    frame = pd.DataFrame(P, columns=NAMES).assign(y=y, w=weights)
    lazy = dd.from_pandas(frame, npartitions=3)
    P_lazy, y_lazy = lazy[NAMES].values, lazy["y"].to_dask_array()
    assert np.isnan(P_lazy.shape[0]) and np.isnan(y_lazy.shape[0])
    ref = _fit(lazy[NAMES].to_dask_array(lengths=True), y)
    clf = _fit(P_lazy, y_lazy)
    _assert_same_fit(clf, ref, P_lazy, P)
    assert np.isnan(P_lazy.shape[0]) and np.isnan(y_lazy.shape[0])  # not changed
    np.testing.assert_allclose(_fit(P_lazy, y).coef_, ref.coef_, atol=1e-12)  # y in memory
    weighted = _fit(P_lazy, y_lazy, lazy["w"].values)
    np.testing.assert_allclose(weighted.coef_, _fit(P, y, weights).coef_, atol=1e-12)
    with pytest.raises(ValueError, match=r"y must have shape \(400,\) like P's rows; got \(399,"):
        _fit(P_lazy, dd.from_pandas(frame.iloc[1:], npartitions=3)["y"].to_dask_array())


def test_class_docstring_attributes_render():
    """The Attributes section holds attributes only, each described (numpydoc renders a
    paragraph left there as an attribute, its markup shown raw)."""
    docscrape = pytest.importorskip("numpydoc.docscrape")
    doc = docscrape.ClassDoc(DaskCFEnsembleClassifier, config={"show_class_members": False})
    assert doc["Attributes"]
    for attribute in doc["Attributes"]:
        assert attribute.name.isidentifier() and attribute.name.endswith("_"), attribute.name
        assert "".join(attribute.desc).strip(), attribute.name


# ---------------------------------------------------------------- the command line


@pytest.fixture
def files(tmp_path, small):
    """``write(name, parts)``: a Parquet dataset directory, one file per part (a frame of
    the classifier columns and the label column ``y``, pandas' nullable Int64)."""
    pytest.importorskip("pyarrow")
    P, y = small
    frame = pd.DataFrame(P, columns=NAMES)
    frame["y"] = pd.array(np.where(y == -1, 0, y).astype(int), dtype="Int64")
    frame.loc[y == -1, "y"] = pd.NA

    def write(name, parts):
        (tmp_path / name).mkdir()
        for k, part in enumerate(parts):
            part.to_parquet(tmp_path / name / f"p{k}.parquet")
        return tmp_path / name

    return frame, write


def _main(*argv):
    from cfensemble.cli import main

    return main([str(a) for a in argv])


def test_cli_dataset_with_an_empty_file(files, tmp_path):
    """A file of 0 rows: fit and predict run, as on the dataset without it."""
    frame, write = files
    empty = write("empty", [frame.iloc[:200], frame.iloc[:0], frame.iloc[200:]])
    plain = write("plain", [frame.iloc[:200], frame.iloc[200:]])
    options = ["--label-column", "y", "--random-state", "0", "--quiet"]
    assert _main("fit", empty, *options, "--model", tmp_path / "e.cfe") == 0
    assert _main("fit", plain, *options, "--model", tmp_path / "p.cfe") == 0
    got = pd.read_parquet(tmp_path / "e.predictions")
    expected = pd.read_parquet(tmp_path / "p.predictions")
    assert len(got) == 400
    np.testing.assert_allclose(got.probability, expected.probability, rtol=0, atol=1e-12)
    out = tmp_path / "new"
    assert _main("predict", "--model", tmp_path / "e.cfe", empty, "-o", out) == 0
    np.testing.assert_allclose(pd.read_parquet(out).probability, got.probability, atol=1e-12)


def _with_text(part, column, row, cell):
    """``part`` with ``column`` as text (numbers written out, empty cells None) and
    ``cell`` at ``row``."""
    part = part.copy()
    part[column] = [None if pd.isna(v) else str(v) for v in part[column]]
    part.iloc[row, part.columns.get_loc(column)] = cell
    return part


def test_cli_text_cell_in_a_later_file(files, tmp_path, capsys):
    """A text cell in the second file (the first, the schema, all numbers): a one-line
    usage error naming the file, the row, the cell and the column, with the in-memory
    CLI's hint; in fit and in predict."""
    frame, write = files
    second = _with_text(frame.iloc[200:], "m2", 5, "oops")
    data = write("text", [frame.iloc[:200], second])
    base = ["--label-column", "y", "--model", tmp_path / "t.cfe"]
    assert _main("fit", data, *base) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (
        f"{data / 'p1.parquet'}: column 'm2', row 5 (data row 6 of the file): 'oops' is not a "
        "number (an ID or other column? name it with --id-column, or list the probability "
        "columns with --classifier-columns)." in err
    )
    assert not (tmp_path / "t.cfe").exists()
    assert _main("fit", data, *base, "--classifier-columns", *NAMES) == 2  # listed: no hint
    assert "'oops' is not a number." in capsys.readouterr().err
    labels = write("labels", [frame.iloc[:200], _with_text(frame.iloc[200:], "y", 7, "pos")])
    assert _main("fit", labels, *base) == 2
    err = capsys.readouterr().err
    assert "p1.parquet: column 'y', row 7 (data row 8 of the file): 'pos' is not a number" in err
    assert "labels are numbers" in err
    # predict: the model's columns
    numbers = write("numbers", [frame.iloc[:200], frame.iloc[200:]])
    model = tmp_path / "n.cfe"
    assert _main("fit", numbers, "--label-column", "y", "--model", model, "--quiet") == 0
    assert _main("predict", "--model", model, data, "-o", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{data / 'p1.parquet'}: column 'm2', row 5 (data row 6 of the file): 'oops'" in err
    assert not (tmp_path / "out").exists()


def test_cli_text_column_has_the_in_memory_hint(files, tmp_path, capsys):
    """A text column not named as the ID column: the error says how to leave it out."""
    frame, write = files
    data = write("source", [frame.assign(source="model run 1")])
    assert _main("fit", data, "--label-column", "y", "--model", tmp_path / "s.cfe") == 2
    err = capsys.readouterr().err
    assert "column 'source' is not numeric" in err
    assert "name it with --id-column, or list the probability columns with" in err
    assert "--classifier-columns" in err
