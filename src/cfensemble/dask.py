"""Scale out with Dask: fit and predict row-chunked ``P`` across a cluster.

:class:`DaskCFEnsembleClassifier` takes the parameters of :class:`CFEnsembleClassifier` and
dask arrays (``P`` chunked by rows, ``y`` with the same row chunks), and runs on the active
``distributed.Client`` (or dask's local scheduler when there is none), as
``xgboost.dask`` and ``lightgbm.dask`` do.

How a fit is distributed (the ALS solver is the same code; only the data differ): the
instance step is label-free, so each row's factors are a function of its own predictions
and of the classifier factors. An iteration is therefore one map over the chunks of ``P``
(each chunk runs :func:`cfensemble._als.sweep` on its rows: the instance step, the parts of
the reconstruction loss, the classifier step's normal equations and an R factor for the
re-gauge) and a tree reduction of those small pieces (``m x (d+1) x (d+1)`` floats per
chunk); only the classifier factors, the aggregator and the loss parts travel, and the
instance factors are never stored between iterations. The labeled rows (few) are gathered
once: the aggregator and the supervised coupling of the classifier step run on them in
the client, exactly as in memory. ``P`` is persisted on the workers for the fit; the
confidence is computed per chunk, never stored.

``label_distributions_``, ``transduction_``, ``instance_factors_``, ``instance_bias_`` and
``predict_proba`` of a dask array are lazy dask arrays (a fold-in per chunk);
:meth:`~DaskCFEnsembleClassifier.to_model` returns an in-memory
:class:`CFEnsembleClassifier` with the classifier factors and the aggregator, which folds
in new rows and saves a model file without any per-row array.

Needs the ``[dask]`` extra (``dask[array]``, ``distributed``), imported when used.
"""

from __future__ import annotations

from functools import partial, reduce

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _aggregation, _als, _missing, _search, _solvers
from ._estimator import CFEnsembleClassifier, _class_prior
from ._kernels import choose_kernel
from ._problem import (
    Block,
    Data,
    Objective,
    State,
    confidence_source,
    sample_rows,
    supervised_weights,
)
from ._solvers import settled, without_callback
from ._validation import (
    _check_sample_weight,
    check_label_classes,
    check_labels,
    check_probabilities,
    encode_labels,
    mean_distribution,
    predicted_labels,
    proba_columns,
)

__all__ = ["DaskCFEnsembleClassifier", "DaskData"]

FAN_IN = 8  # pieces combined per task of the tree reduction


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError:
        raise ImportError("cfensemble.dask needs dask: pip install 'cfensemble[dask]'") from None
    return dask, da


# ------------------------------------------------------------------ per chunk


def _chunk_data(P, y, spec) -> Data:
    """A chunk of rows as in-memory :class:`Data` (its confidence made from ``spec``, whose
    last item is the chunk's first row number, named in the errors). ``y`` is (k,), or
    (k, 2) with the rows' sample weights in its second column."""
    confidence, label_aware, alpha, start = spec
    weight = None
    if y.ndim == 2:
        y, weight = y[:, 0], y[:, 1]
    try:
        P = check_probabilities(P)
        if P.ndim != 2:
            raise ValueError("P must be 2-D (n_samples, n_classifiers): binary only")
        y = check_labels(y, P.shape[0])
    except ValueError as exc:
        raise ValueError(
            f"{exc} (in the chunk of rows {start}..{start + len(P) - 1}; row numbers above "
            "count from the chunk's first row)"
        ) from None
    return Data(P, y, confidence_source(confidence, P, y, label_aware, alpha), False, weight)


def _chunk_column_sums(P, y, spec):
    return _als.initial_column_sums(_chunk_data(P, y, spec))


def _chunk_residual_gram(P, y, spec, a):
    return _als.initial_residual_gram(_chunk_data(P, y, spec), a)


def _chunk_square_sum(P, y, spec, a, X):
    return _als.initial_square_sum(_chunk_data(P, y, spec), a, X)


def _chunk_consensus_moments(P, y, spec, outputs):
    return _chunk_data(P, y, spec).consensus_moments(outputs)


def _chunk_sweep(P, y, spec, X, a, objective, chunk_size, kernel) -> _als.Sweep:
    """:func:`cfensemble._als.sweep` on a chunk (its instance factors are dropped after)."""
    data = _chunk_data(P, y, spec)
    k, d = data.shape[0], X.shape[1]
    state = State(X, np.empty((k, d)), a, np.empty(k), np.zeros(0), 0.0)
    return _als.sweep(data, state, objective, chunk_size, _task_kernel(kernel))


def _task_kernel(kernel):
    """The kernel a chunk task may use: numba's parallel kernel only on a distributed
    worker with one thread (numba's default threading layer must not be entered from
    several threads at once, as dask's threaded scheduler would); numpy otherwise."""
    if kernel != "numba":
        return kernel
    try:
        from distributed import get_worker

        return "numba" if get_worker().state.nthreads == 1 else "numpy"
    except (ImportError, ValueError, AttributeError):  # not on a distributed worker
        return "numpy"


def _fold(P, model: CFEnsembleClassifier, then: str = "; they are given the class prior"):
    """A chunk's rows folded in: ``(data, Y, c, empty)`` (no thread limits: threadpoolctl's
    settings are process-wide, and tasks may share the process); ``empty`` the rows
    without any prediction, warned about (``then``: what follows for them)."""
    checked, empty = model._checked_rows(P, then)
    data = model._new_rows(checked, None)
    kernel = _task_kernel(choose_kernel(data.shape[0], "auto"))
    Y, c = _als.fold_in(
        data, model.classifier_factors_, model.classifier_bias_, model.lambda_reg,
        model._s.chunk_size, kernel=kernel,
    )  # fmt: skip
    return data, Y, c, empty


def _chunk_rows(P, model: CFEnsembleClassifier) -> np.ndarray:
    """``[Y, c, p]`` of a chunk's rows in one array (one fold-in for the three)."""
    if not len(P):  # an empty chunk (a filtered dataframe's partition): no rows to fold in
        return np.empty((0, model.latent_dim_ + 2))
    data, Y, c, empty = _fold(P, model)  # (no empty rows in fit's P, which refuses them)
    p = _missing.with_prior(model, _missing.predict_rows(model, data, Y, c), empty)
    return np.column_stack([Y, c, p])


def _chunk_proba(P, model: CFEnsembleClassifier) -> np.ndarray:
    """``predict_proba`` of a chunk."""
    if not len(P):
        return np.empty((0, 2))
    data, Y, c, empty = _fold(P, model)
    return proba_columns(
        _missing.with_prior(model, _missing.predict_rows(model, data, Y, c), empty)
    )


def _chunk_labels(p, classes: np.ndarray) -> np.ndarray:
    """The predicted labels of a chunk of second-class probabilities."""
    return predicted_labels(classes, proba_columns(p))


def _chunk_filled(P, model: CFEnsembleClassifier) -> np.ndarray:
    """``impute`` of a chunk."""
    if not len(P):
        return np.empty(P.shape)
    data, Y, c, _ = _fold(P, model, "; they are filled from the classifiers' biases")
    return _missing.filled(model, data, Y, c)


def _add(*parts):
    """Sum of per-chunk results: arrays, floats or tuples of them."""
    if isinstance(parts[0], tuple):
        return tuple(_add(*items) for items in zip(*parts, strict=True))
    return reduce(lambda x, y: x + y, parts)


def _combine_sweeps(*parts: _als.Sweep) -> _als.Sweep:
    """The sweep of the union of chunks: sums, and the R factor of the stacked R factors."""
    recon = _als.ReconstructionParts(
        data_term=sum(p.recon.data_term for p in parts),
        ridge_rows=sum(p.recon.ridge_rows for p in parts),
        total_c=sum(p.recon.total_c for p in parts),
        col_count=_add(*(p.recon.col_count for p in parts)),
    )
    equations = _als.NormalEquations(
        _add(*(p.equations.gram for p in parts)),
        _add(*(p.equations.rhs for p in parts)),
        _add(*(p.equations.count for p in parts)),
    )
    return _als.Sweep(recon, equations, _als._stack_r([p.R_y for p in parts]))


# ------------------------------------------------------------------ the data


class DaskData:
    """What the ALS solver needs of a fit whose rows are a row-chunked dask array.

    ``labeled`` indexes the gathered labeled rows (``0..n_labeled-1``): the solver's state
    holds instance factors for those rows only (``labeled_index`` are their row numbers).
    :meth:`sweep` and :meth:`initial_state` replace the in-memory passes over row blocks.
    """

    def __init__(self, P, y, spec, use_class_weights: bool, cost=None):
        dask, da = _dask()
        self.P, self.y, self.spec = P, y, spec
        label = y if y.ndim == 1 else y[:, 0]  # y[:, 1]: the sample weights, if given
        # only the labeled rows' numbers reach the client
        self.labeled_index = np.asarray(da.flatnonzero((label != -1) & (label == label)).compute())
        P_lab, y_lab = dask.compute(P[self.labeled_index], y[self.labeled_index])
        weight = None
        if y.ndim == 2:
            y_lab, weight = y_lab[:, 0], y_lab[:, 1]
        if self.labeled_index.size:
            P_lab = check_probabilities(P_lab, "P")
            y_lab = check_labels(y_lab, P_lab.shape[0])
        self.P_labeled = np.asarray(P_lab, dtype=np.float64)
        self.y_labeled = np.asarray(y_lab, dtype=np.float64)
        self.labeled = np.arange(self.labeled_index.size)
        self.sample_weight = weight  # of the labeled rows (indexed by ``labeled``)
        self.kappa, self.class_kappa = supervised_weights(
            self.y_labeled,
            use_class_weights,
            weight,
            None if cost is None else cost(self.P_labeled, self.y_labeled),
        )
        self._labeled_data = Data(
            self.P_labeled,
            self.y_labeled,
            confidence_source(spec[0], self.P_labeled, self.y_labeled, spec[1], spec[2]),
            False,
        )

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.P.shape)  # type: ignore[return-value]

    def row_sample(self, size: int, rng) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`cfensemble._problem.Data.row_sample` of the rows that enter the fit (of
        weight > 0, as in memory, where the others are left out of ``Data``), gathered."""
        dask, da = _dask()
        if self.y.ndim == 1:
            rows = sample_rows(self.shape[0], size, rng)
            return np.asarray(self.P[rows].compute(), dtype=np.float64), None
        weights = self.y[:, 1]  # y[:, 1]: the sample weights
        rows = np.asarray(da.flatnonzero(weights > 0).compute())
        rows = rows[sample_rows(rows.size, size, rng)]
        P, weight = dask.compute(self.P[rows], weights[rows])
        return np.asarray(P, dtype=np.float64), np.asarray(weight, dtype=np.float64)

    def labeled_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """``(P0, observed)`` of the labeled rows."""
        return self._labeled_data.labeled_rows()

    def consensus_moments(self, outputs: int) -> np.ndarray:
        """:meth:`cfensemble._problem.Data.consensus_moments`, added over the chunks."""
        return self._map_reduce(_chunk_consensus_moments, outputs)

    def _labeled_block(self) -> Block:
        return next(self._labeled_data.blocks(max(1, self.labeled.size)))

    def _map_reduce(self, function, *args, combine=_add):
        """``combine`` of ``function(P_chunk, y_chunk, spec, *args)`` over the chunks (a tree);
        empty chunks (normal in dask: a filtered dataframe's partitions) add nothing."""
        dask, _ = _dask()
        task = dask.delayed(function, pure=True)
        sizes = self.P.chunks[0]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist()
        chunks = zip(
            self.P.to_delayed().ravel(), self.y.to_delayed().ravel(), starts, sizes, strict=True
        )
        parts = [task(p, y, (*self.spec, int(start)), *args) for p, y, start, k in chunks if k]
        join = dask.delayed(combine, pure=True)
        while len(parts) > 1:
            parts = [join(*parts[i : i + FAN_IN]) for i in range(0, len(parts), FAN_IN)]
        return parts[0].compute()

    def initial_state(self, latent_dim: int, aggregator_kind: str, rng) -> State:
        """:func:`cfensemble._als.initial_state`, with its passes as map-reductions."""
        n, m = self.shape
        sums, counts = self._map_reduce(_chunk_column_sums)
        if not counts.all():
            raise ValueError(
                f"P has {int(np.sum(counts == 0))} column(s) without any prediction (first: "
                f"column {int(np.flatnonzero(counts == 0)[0])}); drop them."
            )
        a = sums / np.maximum(counts, 1)
        X = _als.leading_factors(self._map_reduce(_chunk_residual_gram, a), latent_dim)
        square = self._map_reduce(_chunk_square_sum, a, X)
        rows = n if self.y.ndim == 1 else float(self.y[:, 1].sum().compute())
        scale = 1e-2 * max(np.sqrt(square / (rows * latent_dim)), 1e-3)
        X += rng.normal(0.0, scale, size=X.shape)
        k = self.labeled.size  # the instance factors kept: the labeled rows' (set by sweep)
        w = _als.initial_weights(m, aggregator_kind)
        return State(X=X, Y=np.zeros((k, latent_dim)), a=a, c=np.zeros(k), w=w, b=0.0)

    def sweep(self, state: State, objective: Objective, chunk_size: int, kernel) -> _als.Sweep:
        """One pass over the chunks (:func:`cfensemble._als.sweep` on each, tree-summed);
        the labeled rows' instance factors are solved in the client."""
        done = self._map_reduce(
            _chunk_sweep, state.X, state.a, objective, chunk_size, kernel, combine=_combine_sweeps
        )
        if self.labeled.size:
            Y, c = _als.instance_step(
                self._labeled_block(), state.X, state.a, objective.lambda_reg, kernel
            )
            state.Y[:], state.c[:] = Y, c
        return done


# ------------------------------------------------------------------ the estimator


def _check_names(estimator, P, reset: bool) -> None:
    """``feature_names_in_`` as scikit-learn keeps it: set from a dataframe's string column
    names in ``fit`` (removed for an array), checked against new rows' names after it.
    scikit-learn reads names from eager dataframes only: a dask one's columns are passed
    on an empty pandas frame."""
    if hasattr(P, "to_dask_array") and hasattr(P, "columns"):
        import pandas as pd  # dask.dataframe needs it

        P = pd.DataFrame(columns=P.columns)
    validate_data(estimator, X=P, reset=reset, skip_check_array=True)


_BINARY_ONLY = (
    "DaskCFEnsembleClassifier is binary only (use CFEnsembleClassifier with a 3-D P for more "
    "classes)."
)


def _check_2d(P) -> None:
    """A clear error for a ``P`` that is not 2-D (3-D: K-class probabilities)."""
    if P.ndim != 2:
        more = f" {_BINARY_ONLY}" if P.ndim == 3 else ""
        raise ValueError(
            f"P must be 2-D (n_samples, n_classifiers); got {P.ndim} dimension(s).{more}"
        )


def _frame_array(frame):
    """A dask DataFrame or Series as a dask array with known row chunks (anything else as
    it is). Optimized first:
    dask's query planner may merge the partitions of a column selection of Parquet files,
    and ``to_dask_array(lengths=True)`` of the unoptimized frame then fails (dask 2026.8:
    "The number of items in 'lengths' does not match the number of partitions")."""
    if not hasattr(frame, "to_dask_array"):
        return frame
    if hasattr(frame, "optimize"):
        frame = frame.optimize()
    return frame.to_dask_array(lengths=True)


def _block_shape(block) -> np.ndarray:
    """A block's shape, as a block of its own (1 x ... x 1 x ndim)."""
    return np.asarray(block.shape, dtype=np.int64)[(None,) * block.ndim]


def _known_chunks(*arrays):
    """``arrays`` with the chunk sizes of the dask ones computed where unknown (as
    ``ddf.values`` or ``ddf.to_dask_array()`` leave them), all in one pass (as
    ``compute_chunk_sizes`` does, without changing the arrays given); the others as they
    are."""
    dask, da = _dask()
    unknown = [
        i for i, x in enumerate(arrays) if isinstance(x, da.Array) and np.isnan(sum(x.shape))
    ]
    if not unknown:
        return list(arrays)
    shapes = [
        arrays[i].map_blocks(
            _block_shape,
            chunks=(*((1,) * n for n in arrays[i].numblocks), (arrays[i].ndim,)),
            new_axis=arrays[i].ndim,
            dtype=np.int64,
        )
        for i in unknown
    ]
    computed = dask.compute(*shapes)
    arrays = list(arrays)
    for i, sizes in zip(unknown, computed, strict=True):
        x, chunks = arrays[i], []
        for axis in range(x.ndim):  # the shapes of the blocks along the axis, at 0 across
            along = [0] * x.ndim
            along[axis] = slice(None)
            chunks.append(tuple(int(k) for k in sizes[tuple(along)][:, axis]))
        arrays[i] = da.Array(x.dask, x.name, tuple(chunks), meta=x)
    return arrays


def _as_dask_arrays(P, y):
    """``P`` (n, m) and ``y`` (n,) as dask arrays with the same row chunks, one column chunk
    (unknown chunk sizes computed first, of both in one pass)."""
    _, da = _dask()
    P = _frame_array(P)
    if not isinstance(P, da.Array):
        P = np.asarray(P)
    _check_2d(P)
    if y is None:
        raise ValueError("y is required: 0/1 for labeled rows, -1 or NaN for the others.")
    P, y = _known_chunks(P, _frame_array(y))
    if P.shape[0] == 0:  # the in-memory estimator's message
        raise ValueError(f"P has 0 sample(s) (shape={P.shape}) while a minimum of 1 is required.")
    if not isinstance(P, da.Array):
        P = da.from_array(P, chunks=(max(1, len(P) // 4), -1))
    P = P.rechunk({1: -1})
    classes = np.array([0, 1])  # a dask y holds 0/1 (checked per chunk)
    if not isinstance(y, da.Array):  # in memory: any labels, as CFEnsembleClassifier takes
        y, classes = encode_labels(y, int(P.shape[0]))
        if classes.size > 2:
            raise ValueError(
                f"y has {classes.size} classes {classes[:5].tolist()}: {_BINARY_ONLY}"
            )
        y = da.from_array(y, chunks=(P.chunks[0],))
    elif y.dtype.kind not in "biuf":
        raise ValueError(
            f"y as a dask array must hold numbers (0/1, and -1 or NaN for unlabeled rows); "
            f"got dtype {y.dtype}. For class names pass y in memory (a numpy array or a "
            "pandas Series: one label per row), or map the names to 0/1 first."
        )
    if y.shape != (P.shape[0],):
        raise ValueError(f"y must have shape ({P.shape[0]},) like P's rows; got {y.shape}.")
    return P, y.rechunk((P.chunks[0],)).astype(np.float64), classes


def _as_row_weights(sample_weight, P):
    """``sample_weight`` as a float64 dask array with ``P``'s row chunks, checked finite and
    >= 0 (one pass)."""
    dask, da = _dask()
    if not isinstance(sample_weight, da.Array):
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
    (sample_weight,) = _known_chunks(sample_weight)
    if tuple(sample_weight.shape) != (int(P.shape[0]),):
        raise ValueError(
            f"sample_weight must have shape ({int(P.shape[0])},), one weight per row; "
            f"got {tuple(sample_weight.shape)}."
        )
    if not isinstance(sample_weight, da.Array):
        sample_weight = da.from_array(sample_weight, chunks=(P.chunks[0],))
    weight = sample_weight.astype(np.float64).rechunk((P.chunks[0],))
    if not bool(dask.compute((da.isfinite(weight) & (weight >= 0)).all())[0]):
        raise ValueError("sample_weight must be finite and >= 0.")
    return weight


class DaskCFEnsembleClassifier(CFEnsembleClassifier):
    """:class:`CFEnsembleClassifier` on dask arrays, for data larger than one machine.

    Same parameters and the same fit (to rounding: the sums are taken in another order)
    as :class:`CFEnsembleClassifier` with ``solver="als"``; see :mod:`cfensemble.dask`.
    Not available here: ``solver="torch"``, ``latent_dim``/``rho="auto"``, a callable or
    array ``confidence``, ``device``/``dtype`` other than the CPU default.

    The fitted attributes not listed below (``classifier_factors_``, ``coef_``,
    ``loss_curve_``, ...) are numpy arrays, as for :class:`CFEnsembleClassifier`.

    Attributes
    ----------
    label_distributions_ : dask array of shape (n_samples, 2)
        Class probabilities of every row seen in fit, columns in the order of ``classes_``
        (lazy).
    transduction_ : dask array of shape (n_samples,)
        Predicted label of every row seen in fit (lazy, from ``label_distributions_``).
    instance_factors_ : dask array of shape (n_samples, ``latent_dim_``)
        Instance factors of the rows seen in fit (lazy, computed per chunk by fold-in at
        the fitted classifier factors).
    instance_bias_ : dask array of shape (n_samples,)
        Instance biases of the rows seen in fit (lazy, as ``instance_factors_``).
    diagnostics_ : dict
        As for :class:`CFEnsembleClassifier`, computed on the labeled rows.
    labeled_index_ : ndarray of int
        Row numbers of the labeled rows (gathered for the aggregator).
    """

    def _check_dask_params(self) -> None:
        unsupported = {
            "solver": (self._s.solver, "als"),
            "device": (self._s.device, "cpu"),
        }
        for name, (value, allowed) in unsupported.items():
            if value != allowed:
                raise ValueError(f"DaskCFEnsembleClassifier supports {name}={allowed!r} only.")
        if self.pos_label is not None:
            raise ValueError(
                "DaskCFEnsembleClassifier reads P as the probability of the label that sorts "
                "last (1 of 0/1): pos_label is not available there; recode y instead."
            )
        if self._s.dtype not in (None, "float64"):
            raise ValueError("DaskCFEnsembleClassifier computes in float64: dtype=None.")
        if isinstance(self._s.latent_dim, str) or isinstance(self._s.rho, str):
            raise ValueError(
                "DaskCFEnsembleClassifier takes numbers for latent_dim and rho: choose them "
                "with CFEnsembleClassifier('auto') on a sample of the rows."
            )
        if not isinstance(self._s.confidence, str):
            raise ValueError(
                "DaskCFEnsembleClassifier takes a confidence strategy name ('uniform', "
                "'certainty'): a callable or array would need all of P at once."
            )

    @settled
    def fit(self, P, y, sample_weight=None):
        """Fit on row-chunked ``P`` (dask array or DataFrame; numpy is split in 4 chunks).

        Parameters
        ----------
        P : dask array or dask DataFrame of shape (n_samples, n_classifiers)
            Base probabilities in [0, 1]; NaN marks a missing prediction. A dataframe's
            string column names become ``feature_names_in_``, checked against the columns
            of the rows given to ``predict_proba``, ``predict`` and ``impute`` (and kept in
            the model file), as for a pandas DataFrame in memory.
        y : dask array or Series, or numpy array, of shape (n_samples,)
            1 or 0 for labeled rows, -1 or NaN for unlabeled rows (on dask: numbers; in
            memory: any two class names, as for :class:`CFEnsembleClassifier`).
        sample_weight : array-like of shape (n_samples,), optional
            As for :meth:`CFEnsembleClassifier.fit`.
        """
        dask, da = _dask()
        self._check_params()
        self._check_dask_params()
        named = P
        P, y, classes = _as_dask_arrays(P, y)
        _check_names(self, named, reset=True)  # after the shape checks: their clear errors
        n_classifiers = int(P.shape[1])
        self._set_classes(P, y, classes)  # as in memory: [0, 1] unless two are labeled
        if sample_weight is not None:  # travels with y, as its second column
            y = da.stack([y, _as_row_weights(sample_weight, P)], axis=1).rechunk({1: -1})
        # on the workers for the whole fit (recomputed if one is lost)
        P, y = dask.persist(P, y)
        spec = (
            self._s.confidence,
            self._s.use_label_aware_confidence,
            float(self._s.label_aware_alpha),
        )
        data = DaskData(P, y, spec, self._s.use_class_weights, partial(_aggregation.costs, self))
        check_label_classes(self, data.y_labeled)
        if data.sample_weight is not None:
            _check_sample_weight(data.sample_weight, data.y_labeled)
        _search.set_dimensions(self, self._s.latent_dim, self._s.rho, n_classifiers, n_classifiers)
        objective = _aggregation.with_shrinkage_target(
            self, data, self._objective(self.rho_, data, train_aggregator=bool(data.labeled.size))
        )
        result = _solvers.als_solver(self).fit(
            data, objective, None, check_random_state(self._s.random_state)
        )
        objective = _aggregation.resolve_shrinkage(
            self, data, _missing.resolve_fill(self, data, objective, result), result
        )
        _aggregation.set_fitted(self, result, data, objective)
        self.cv_results_ = None
        self.labeled_index_ = data.labeled_index
        if data.labeled.size:  # the in-memory class_prior_: of the labeled rows
            self.class_prior_ = _class_prior(self, data.y_labeled, data.sample_weight)
        model = self._task_model()
        if data.labeled.size:
            _aggregation.set_diagnostics(self, model.predict_proba(data.P_labeled)[:, 1])
        else:
            self.diagnostics_ = {"computed_on": "no labeled rows: not computed"}
        d = self.latent_dim_
        rows = P.map_blocks(  # one lazy fold-in; the three attributes are its columns
            partial(_chunk_rows, model=model), chunks=(P.chunks[0], (d + 2,)), dtype=np.float64
        )
        self.instance_factors_ = rows[:, :d]
        self.instance_bias_ = rows[:, d]
        p = rows[:, d + 1]
        _, da = _dask()
        self.label_distributions_ = da.stack([1.0 - p, p], axis=1)
        self.transduction_ = p.map_blocks(
            partial(_chunk_labels, classes=self.classes_), dtype=self.classes_.dtype
        )
        if not data.labeled.size:  # without labels: the mean probability (a pass)
            t = p if y.ndim == 1 else p[y[:, 1] > 0]
            self.class_prior_ = mean_distribution(t.mean(keepdims=True).compute())
        return self

    def to_model(self, include_rows: bool = False) -> CFEnsembleClassifier:
        """An in-memory :class:`CFEnsembleClassifier` with the fitted classifier factors and
        aggregator: it folds in new rows and saves a small model file.

        ``include_rows=True`` also computes the per-row arrays (``instance_factors_``,
        ``instance_bias_``, ``label_distributions_``, ``transduction_``) into it: n-sized,
        so for data that fit in memory only. By default they are empty.
        """
        check_is_fitted(self, "classifier_factors_")
        params = without_callback(self.get_params(deep=False))
        model = CFEnsembleClassifier(**params)
        per_row = {
            "instance_factors_",
            "instance_bias_",
            "label_distributions_",
            "transduction_",
            "labeled_index_",
        }
        for name, value in vars(self).items():  # every fitted attribute but the per-row ones
            if name.endswith("_") and not name.startswith("_") and name not in per_row:
                setattr(model, name, value)
        model.instance_factors_ = np.empty((0, self.latent_dim_))
        model.instance_bias_ = np.empty(0)
        model.label_distributions_ = np.empty((0, 2))
        model.transduction_ = np.empty(0, dtype=self.classes_.dtype)
        if include_rows and hasattr(self, "label_distributions_"):
            dask, _ = _dask()
            (
                model.instance_factors_,
                model.instance_bias_,
                model.label_distributions_,
                model.transduction_,
            ) = dask.compute(
                self.instance_factors_,
                self.instance_bias_,
                self.label_distributions_,
                self.transduction_,
            )
        return model

    def _task_model(self) -> CFEnsembleClassifier:
        """:meth:`to_model` for the tasks on row chunks: without ``feature_names_in_``, as
        the chunks are arrays (the names were checked on the whole dataframe)."""
        model = self.to_model()
        if hasattr(model, "feature_names_in_"):
            del model.feature_names_in_
        return model

    def predict_proba(self, P, confidence=None):
        """Class probabilities of new rows; lazy (a dask array) when ``P`` is one."""
        return self._per_row("predict_proba", _chunk_proba, P, confidence, columns=2)

    def impute(self, P, confidence=None):
        """``P`` with each missing prediction replaced by the model's fill-in (see
        :meth:`cfensemble.CFEnsembleClassifier.impute`); lazy (a dask array) when ``P`` is
        one."""
        return self._per_row("impute", _chunk_filled, P, confidence)

    def _per_row(self, method: str, per_chunk, P, confidence, columns: int | None = None):
        """The in-memory model's ``method`` for in-memory ``P``; for a dask array (or
        dataframe), ``per_chunk(chunk, model)`` mapped over its row chunks, lazily, each
        giving ``columns`` columns (None: as many as ``P``)."""
        _, da = _dask()
        if not isinstance(P, da.Array) and not hasattr(P, "to_dask_array"):
            return getattr(self.to_model(), method)(P, confidence)
        if confidence is not None:
            raise ValueError("confidence per row is not supported for dask input.")
        P_named = P
        P = _frame_array(P)
        _check_2d(P)
        _check_names(self, P_named, reset=False)
        model = self._task_model()
        P = P.rechunk({1: -1})
        chunks = P.chunks if columns is None else (P.chunks[0], (columns,))
        return P.map_blocks(partial(per_chunk, model=model), chunks=chunks, dtype=np.float64)

    def predict(self, P, confidence=None):
        """Class labels of new rows: ``classes_[1]`` where its probability is at least 0.5,
        else ``classes_[0]``; lazy (a dask array) when ``P`` is one."""
        proba = self.predict_proba(P, confidence)
        classes = np.asarray(self.classes_)
        if isinstance(proba, np.ndarray):
            return predicted_labels(classes, proba)
        return proba.map_blocks(
            partial(predicted_labels, classes), drop_axis=1, dtype=classes.dtype
        )

    def save(self, path, metadata: dict | None = None) -> None:
        """Write the fitted model to ``path``: the model file of :meth:`to_model` (the
        classifier factors and the aggregator, not the per-row arrays), which
        :func:`cfensemble.load` reads back as a :class:`CFEnsembleClassifier`."""
        self.to_model().save(path, metadata)

    def fold_in(self, P, confidence=None):
        """Instance factors and biases of new rows (in memory; see :meth:`to_model`)."""
        return self.to_model().fold_in(P, confidence)
