"""The fit as the command line shows it: a progress bar on stderr (the estimator's
``callback``), warnings after it, and the line with the seed that repeats the fit."""

from __future__ import annotations

import contextlib
import sys
import time
import warnings

from ._files import CLIError


class _Progress:
    """``callback(iteration, losses)`` of the estimator, drawn by tqdm on stderr.

    On a terminal: a bar with elapsed time, rate and the objective, redrawn at most every
    0.2 s. Elsewhere (a log file): nothing while fitting, then one final line in the same
    format. Warnings raised during the fit are held back and shown after the bar's line,
    never glued onto it.
    """

    def __init__(self, total: int, unit: str):
        from tqdm import tqdm

        self.tqdm = tqdm
        self.total, self.unit = total, unit
        self.tty = sys.stderr.isatty()
        self.iteration, self.objective = 0, float("nan")
        self.held = warnings.catch_warnings(record=True)

    def __enter__(self):
        self.start = time.monotonic()
        if self.tty:
            self.bar = self.tqdm(
                total=self.total, unit=self.unit, file=sys.stderr, mininterval=0.2
            )
        self.warnings = self.held.__enter__()  # the filters in force still apply
        return self

    def __call__(self, iteration: int, losses) -> None:
        self.objective = float(losses[0])
        if self.tty:
            self.bar.set_postfix(objective=f"{self.objective:.5g}", refresh=False)
            self.bar.update(iteration - self.iteration)
        self.iteration = iteration

    def __exit__(self, *exc) -> None:
        self.held.__exit__(*exc)
        # a fit that stopped before the limit (converged, or early stopping) ends at 100 %;
        # one that failed keeps its place
        stopped = exc[0] is None and 0 < self.iteration < self.total
        done = self.iteration if stopped else self.total
        name = {"it": "iterations"}.get(self.unit, f"{self.unit}s")
        postfix = f"objective={self.objective:.5g}, {name} {self.iteration} of max {self.total}"
        if self.tty:
            self.bar.total = done
            self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.close()
        else:
            line = self.tqdm.format_meter(
                self.iteration,
                done,
                time.monotonic() - self.start,
                unit=self.unit,
                postfix=postfix,
            )
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        for record in self.warnings:
            message = (record.message, record.category, record.filename, record.lineno)
            sys.stderr.write(warnings.formatwarning(*message))  # main's: kind and message


def fit_with_progress(clf, P, y, progress, source, sample_weight=None, solver=None) -> None:
    """``clf.fit(P, y, sample_weight)`` inside the progress bar (when there is one); a
    ValueError is a CLIError naming ``source``.

    A factorization the fit deferred (complete ``P``) runs inside the bar too: the model
    file holds its factors. ``solver``: the ``solver`` parameter set afterwards, the one
    the options asked for (without the bar's callback, which a model file cannot hold).
    """
    try:
        with progress if progress is not None else contextlib.nullcontext():
            clf.fit(P, y, sample_weight)
            clf.n_iter_  # noqa: B018 - runs a deferred factorization
    except ValueError as exc:
        raise CLIError(f"{source}: {exc}") from None
    if solver is not None:
        clf.set_params(solver=solver)


def seed_line(clf) -> str:
    """The seed that repeats the fit, and the values its "auto" parameters chose."""
    seed = clf.random_state
    chosen = [
        f"; {name}='auto' chose {getattr(clf, name + '_')}"
        for name in ("latent_dim", "rho", "abstention", "aggregator_shrinkage", "aggregator_l2")
        if getattr(clf, name) == "auto"
    ]
    return f"random_state={seed} (--random-state {seed} repeats this fit)" + "".join(chosen)
