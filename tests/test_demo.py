"""The demo compares the default estimator with the baselines on held-out rows."""

import numpy as np

from cfensemble._demo import run


def test_demo_reports_every_regime_and_a_verdict():
    lines = []
    results = run(n_samples=600, n_classifiers=5, positive_rate=0.1, seed=1, out=lines.append)
    assert set(results) == {
        "complete",
        "30% missing at random",
        "3 of m per instance",
        "30% abstained where unsure",
    }
    for table in results.values():
        assert set(table) == {
            "mean of available",
            "best single",
            "LR stacking",
            "CFEnsembleClassifier",
        }
        for pr, roc, brier in table.values():
            assert 0 <= pr <= 1 and 0 <= roc <= 1 and 0 <= brier <= 1
    verdict = lines[-len(results) - 1 :]  # a heading, then a line per regime
    assert verdict[0].startswith("CFEnsembleClassifier ")
    assert sum(line.startswith("  fit: CFEnsembleClassifier ") for line in lines) == 4
    assert lines[-len(results) - 2].startswith("demo: ") and lines[-len(results) - 2].endswith(
        " s"
    )
    for regime, line in zip(results, verdict[1:], strict=True):
        assert f" {regime} (" in line
    # every line reads on a terminal: none is longer than 100 characters
    assert max(len(part) for line in lines for part in line.split("\n")) <= 100
    # the verdict is computed from the table, not written in advance
    ours = results["complete"]["CFEnsembleClassifier"][0]
    best = max(v[0] for k, v in results["complete"].items() if k != "CFEnsembleClassifier")
    word = "wins" if ours - best > 0.002 else ("ties" if ours - best >= -0.002 else "loses")
    assert verdict[1].startswith(f"  {word} complete ({ours - best:+.3f}")
    assert np.isfinite([v for t in results.values() for m in t.values() for v in m]).all()
