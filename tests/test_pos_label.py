"""pos_label: which class a 2-D P holds the probability of (issue 30, medium 2)."""

from __future__ import annotations

import numpy as np
import pytest

import cfensemble
from cfensemble import CFEnsembleClassifier
from cfensemble.cli import main


def _problem():
    P, y = cfensemble.make_ensemble_problem(
        n_samples=400, n_classifiers=5, missing_rate=0.2, random_state=0
    )
    names = np.where(y == 1, "member", "non-member").astype(object)
    names[::2] = None
    numbers = y.astype(float)
    numbers[::2] = np.nan
    return P, names, numbers


def test_pos_label_gives_the_fit_of_the_0_1_coding(tmp_path):
    P, names, numbers = _problem()
    # "member" sorts first: without pos_label P would be read as P(non-member)
    with pytest.warns(cfensemble.CollapseWarning, match="pass 1 - P or swap the labels"):
        CFEnsembleClassifier(random_state=0).fit(P, names)
    named = CFEnsembleClassifier(random_state=0, pos_label="member").fit(P, names)
    coded = CFEnsembleClassifier(random_state=0).fit(P, numbers)
    assert named.classes_.tolist() == ["non-member", "member"]
    np.testing.assert_array_equal(named.label_distributions_, coded.label_distributions_)
    np.testing.assert_array_equal(named.predict_proba(P[:20]), coded.predict_proba(P[:20]))
    assert named.predict(P[:20]).tolist() == [
        "member" if v == 1 else "non-member" for v in coded.predict(P[:20])
    ]
    named.save(tmp_path / "m.cfe")
    loaded = cfensemble.load(tmp_path / "m.cfe")
    assert loaded.classes_.tolist() == ["non-member", "member"] and loaded.pos_label == "member"
    np.testing.assert_array_equal(loaded.predict_proba(P[:20]), named.predict_proba(P[:20]))


def test_pos_label_that_sorts_last_changes_nothing():
    P, _, numbers = _problem()
    a = CFEnsembleClassifier(random_state=0, pos_label=1).fit(P, numbers)
    b = CFEnsembleClassifier(random_state=0).fit(P, numbers)
    np.testing.assert_array_equal(a.label_distributions_, b.label_distributions_)


@pytest.mark.parametrize("pos_label", ["members", 1, True])
def test_a_pos_label_not_among_the_labels_is_a_clear_error(pos_label):
    P, names, _ = _problem()
    with pytest.raises(ValueError, match=r"pos_label=.*must be one of the two classes"):
        CFEnsembleClassifier(pos_label=pos_label).fit(P, names)


def test_pos_label_with_a_3d_p_is_refused():
    P, y = cfensemble.make_ensemble_problem(n_samples=200, n_classifiers=4, random_state=0)
    P3 = np.stack([1 - P, P], axis=2)
    with pytest.raises(ValueError, match="3-D P holds every class's probability"):
        CFEnsembleClassifier(pos_label=1).fit(P3, y)


def test_dask_refuses_pos_label():
    pytest.importorskip("dask")
    from cfensemble.dask import DaskCFEnsembleClassifier

    P, _, numbers = _problem()
    with pytest.raises(ValueError, match="pos_label is not available"):
        DaskCFEnsembleClassifier(pos_label=1).fit(P, numbers)


def test_cli_positive_class(tmp_path, capsys):
    P, names, _ = _problem()
    rows = [
        ",".join(["" if np.isnan(v) else f"{v:.6f}" for v in row] + [label or ""])
        for row, label in zip(P, names, strict=True)
    ]
    path = tmp_path / "members.csv"
    path.write_text("\n".join(["a,b,c,d,e,y", *rows]) + "\n")
    model = tmp_path / "m.cfe"
    args = ["fit", str(path), "--label-column", "y", "--model", str(model), "--quiet"]
    assert main([*args, "--random-state", "0", "--positive-class", "member"]) == 0
    fitted = cfensemble.load(model)
    assert fitted.classes_.tolist() == ["non-member", "member"]
    assert np.all(fitted.coef_ > 0)  # the classifiers count for "member", none collapsed
    assert main([*args, "--positive-class", "memb"]) == 2
    assert "must be one of the two classes" in capsys.readouterr().err
