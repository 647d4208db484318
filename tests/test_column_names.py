"""Errors about a DataFrame's columns name the column, not only its position."""

import numpy as np
import pandas as pd
import pytest

from cfensemble import CFEnsembleClassifier

FRAME = pd.DataFrame({"a": [0.1, 0.2, 0.3, 0.9], "b": [0.2, 0.3, 0.4, 0.8]})
Y = np.array([0, 1, 0, 1])


@pytest.mark.parametrize(
    "nr, match",
    [
        ([1001, 1002, 1003, 1004], r"P\[0, 1\] = 1001\.0 \(column 'nr'; an ID or other column"),
        (["x", "y", "z", "w"], r"'x' \(column 'nr'; an ID or other column"),
    ],
)
def test_an_id_column_is_named_in_fit_and_predict(nr, match):
    frame = FRAME.copy()
    frame.insert(1, "nr", nr)
    with pytest.raises(ValueError, match=match):
        CFEnsembleClassifier().fit(frame, Y)
    model = CFEnsembleClassifier().fit(frame.drop(columns="nr").to_numpy(), Y)
    with pytest.raises(ValueError, match=match):
        model.predict_proba(frame.drop(columns="b"))


def test_arrays_keep_the_position_only():
    with pytest.raises(ValueError, match=r"the first at P\[1, 1\] = 2\.0\.$"):
        CFEnsembleClassifier().fit(np.array([[0.1, 0.2], [0.3, 2.0]]), [0, 1])
