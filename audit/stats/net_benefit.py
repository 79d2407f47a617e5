"""Decision curve analysis: the net benefit of treating by a model's predicted risk.

A patient is *treated* when the predicted probability reaches the threshold probability ``t``
(``p >= t``). The threshold expresses how a clinician weighs harms against benefits: treating at
``t`` means one true positive is worth ``(1 - t) / t`` false positives. Over ``n`` patients,

    NB_model(t)     = TP(t) / n - FP(t) / n * t / (1 - t)
    NB_treat_all(t) = prevalence - (1 - prevalence) * t / (1 - t) = (prevalence - t) / (1 - t)
    NB_treat_none   = 0

(Vickers & Elkin, Medical Decision Making 2006; Vickers, van Calster & Steyerberg, BMJ 2016).
A model is worth using at ``t`` only when its net benefit exceeds both default strategies,
``max(NB_treat_all(t), 0)``.

How replicates are computed
---------------------------
``NetBenefitCurve`` is a statistic for the resampling engine (``bootstrap.py``): it maps a block
of resample counts ``W`` (``B x n``) to the net benefit of the model and of treat-all at every
threshold (``B x 2T``) without materialising any resample. Rows are laid out once as the
negatives sorted by score, then the positives sorted by score (``layout``; the engine draws
counts directly in that order). Within each sorted block the rows treated at ``t`` are a
suffix, so the ``T`` thresholds cut each block into at most ``T + 1`` contiguous segments;
``np.add.reduceat`` sums every replicate's counts per segment (``B x (T + 1)``) and a running
sum over the segments gives the weighted ``TP(t)`` and ``FP(t)``. Temporaries are
``O(B T + n + T)``; the counts are summed in integer arithmetic (and in a fixed order), so
replicates are bit-identical whichever process or thread count computes them — no BLAS.
"""

from __future__ import annotations

import numpy as np

from .estimate import Estimate
from .proportions import clopper_pearson_interval, wilson_interval

#: The usual grid of threshold probabilities: 0.01, 0.02, ..., 0.99.
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(k / 100, 2) for k in range(1, 100))
#: When a block of counts comes in the original row order (``NetBenefitCurve.__call__``), it is
#: reordered in row blocks of at most this many cells (8 MiB of int64).
GATHER_CELLS = 2**20


#: Net-benefit differences smaller than this are ties (floating-point noise, not benefit).
TIE = 1e-9


def check_thresholds(thresholds) -> np.ndarray:
    """Threshold probabilities as a 1-D float array, each strictly between 0 and 1."""
    t = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if t.ndim != 1:
        raise ValueError(f"thresholds must be a number or a flat list of numbers; got an array of shape {t.shape}")
    if t.size == 0:
        raise ValueError("at least one threshold probability is needed")
    bad = t[~((t > 0.0) & (t < 1.0))]  # also catches nan
    if bad.size:
        raise ValueError(f"threshold probabilities must lie strictly between 0 and 1; got {bad[0]!r}")
    return t


def _check_data(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    if y.ndim != 1 or p.ndim != 1 or y.size != p.size:
        raise ValueError(f"y and p must be flat arrays of the same length; got shapes {y.shape} and {p.shape}")
    if y.size == 0:
        raise ValueError("net benefit needs at least one patient")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y must hold binary outcomes (0/1 or False/True)")
    if not np.all(np.isfinite(p)):
        raise ValueError("predicted probabilities must be finite numbers")
    return y.astype(bool), p


def _odds(t: np.ndarray) -> np.ndarray:
    """The exchange rate ``t / (1 - t)``: false positives one true positive is worth, inverted."""
    return t / (1.0 - t)


def net_benefit(y, p, thresholds) -> np.ndarray:
    """Net benefit of treating patients with ``p >= t``, at each threshold ``t``; shape ``(T,)``.

    ``NB(t) = TP(t) / n - FP(t) / n * t / (1 - t)``, where ``TP(t)`` and ``FP(t)`` count the
    events and non-events with ``p >= t`` among the ``n`` patients.
    Vickers & Elkin, "Decision curve analysis: a novel method for evaluating prediction
    models", Medical Decision Making 26(6):565-574, 2006.
    """
    y, p = _check_data(y, p)
    t = check_thresholds(thresholds)
    n = y.size
    p_pos, p_neg = np.sort(p[y]), np.sort(p[~y])
    tp = p_pos.size - np.searchsorted(p_pos, t, side="left")
    fp = p_neg.size - np.searchsorted(p_neg, t, side="left")
    return tp / n - fp / n * _odds(t)


def treat_all(y, thresholds) -> np.ndarray:
    """Net benefit of treating everybody at each threshold ``t``; shape ``(T,)``.

    ``NB_all(t) = prevalence - (1 - prevalence) * t / (1 - t)`` (equal to
    ``(prevalence - t) / (1 - t)``). Treating nobody has net benefit 0 at every threshold.
    Vickers & Elkin, Medical Decision Making 2006.
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0 or not np.all((y == 0) | (y == 1)):
        raise ValueError("y must be a non-empty flat array of binary outcomes (0/1 or False/True)")
    t = check_thresholds(thresholds)
    prevalence = float(np.count_nonzero(y)) / y.size
    return prevalence - (1.0 - prevalence) * _odds(t)


class _SortedBlock:
    """The rows of one outcome class, sorted by score: weighted counts treated at each threshold."""

    def __init__(self, p_sorted: np.ndarray, cols: slice, t: np.ndarray):
        self.cols = cols
        self.size = int(p_sorted.size)
        untreated = np.searchsorted(p_sorted, t, side="left")  # rows with p < t, per threshold
        # non-empty segments [bounds[k], bounds[k+1]) covering the block; every cut is a boundary
        self.bounds = np.unique(np.concatenate(([0], untreated[untreated < self.size]))).astype(np.intp)
        edges = np.concatenate((self.bounds, [self.size]))
        self.at = np.searchsorted(edges, untreated)  # running-sum column of each threshold's cut

    def treated(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weighted ``(count treated at each threshold (B, T), total (B,))`` for a block of weights."""
        dtype = np.result_type(W.dtype, np.int64)
        B = W.shape[0]
        running = np.zeros((B, self.bounds.size + 1), dtype=dtype)
        if self.size and B:
            segments = np.add.reduceat(W[:, self.cols], self.bounds, axis=1, dtype=dtype)
            np.cumsum(segments, axis=1, out=running[:, 1:])
        total = running[:, -1]
        return total[:, None] - running[:, self.at], total


class NetBenefitCurve:
    """Net benefit of the model and of treat-all at every threshold, on whole blocks of replicates.

    A statistic for ``ResamplingEngine.bootstrap``: ``__call__(W)`` takes resample counts (or any
    non-negative weights) ``W`` of shape ``(B, n)`` in the original row order and returns
    ``(B, 2T)``: columns ``0 .. T-1`` the model's net benefit at each threshold, columns
    ``T .. 2T-1`` treat-all's. Weighted counts replace counts (``n`` becomes the total weight),
    so a row of ``W`` that counts a resample gives exactly ``net_benefit`` and ``treat_all`` on
    that resample. ``laid_out(W)`` is the same on counts drawn in ``layout`` order (negatives
    by score, then positives by score), which is how the engine draws them. A replicate of
    total weight zero is ``nan``.
    """

    def __init__(self, y, p, thresholds):
        y, p = _check_data(y, p)
        self.thresholds = check_thresholds(thresholds)
        self.n = int(y.size)
        self.layout = np.lexsort((p, y))
        n_neg = int(np.count_nonzero(~y))
        p_sorted = p[self.layout]
        self._neg = _SortedBlock(p_sorted[:n_neg], slice(0, n_neg), self.thresholds)
        self._pos = _SortedBlock(p_sorted[n_neg:], slice(n_neg, self.n), self.thresholds)
        self._odds = _odds(self.thresholds)

    @property
    def columns(self) -> list[tuple[str, float]]:
        """``("model", t)`` for each threshold, then ``("treat_all", t)``."""
        return [(s, float(t)) for s in ("model", "treat_all") for t in self.thresholds]

    def laid_out(self, W: np.ndarray) -> np.ndarray:
        W = np.atleast_2d(np.asarray(W))
        tp, n_pos = self._pos.treated(W)
        fp, n_neg = self._neg.treated(W)
        total = (n_pos + n_neg).astype(np.float64)
        inv = np.full(total.shape, np.nan)
        np.divide(1.0, total, out=inv, where=total > 0)
        inv = inv[:, None]
        model = tp * inv - fp * inv * self._odds
        everyone = (n_pos * inv[:, 0])[:, None] - (n_neg * inv[:, 0])[:, None] * self._odds
        return np.hstack([model, everyone])

    def __call__(self, W: np.ndarray) -> np.ndarray:
        W = np.atleast_2d(np.asarray(W))
        rows = max(1, GATHER_CELLS // max(1, self.n))
        if W.shape[0] <= rows:
            return self.laid_out(np.take(W, self.layout, axis=1))
        return np.vstack([self.laid_out(np.take(W[i : i + rows], self.layout, axis=1)) for i in range(0, W.shape[0], rows)])

    def point(self) -> np.ndarray:
        """Net benefit on the data as observed (all weights one), shape ``(2T,)``."""
        return self.laid_out(np.ones((1, self.n), dtype=np.int64))[0]


def decision_curve(y, p, thresholds, engine, stream: str, design=None, band_range=None) -> dict:
    """The decision curve with confidence intervals, as plain JSON-able data.

    Returns ``{"thresholds": [...], "model": [estimate per threshold], "treat_all": [...],
    "treat_none": 0.0, "model_minus_treat_all": [...]}``, each estimate ``{"value", "ci", "method",
    "n"}``. The model's own net benefit is also its difference from treat-none (whose net benefit is
    0); ``model_minus_treat_all`` is the paired difference, replicate by replicate.

    - *Model*: the bootstrap of ``engine`` under ``design`` (``None``: a simple random sample
      of patients, as a cohort is sampled), so the prevalence varies between resamples as it
      would between cohorts and the interval covers the population's net benefit.
    - *Treat-all*: its net benefit ``(prevalence - t) / (1 - t)`` depends on the data only
      through the prevalence: the Wilson interval of the prevalence (Wilson, JASA 1927) is
      mapped through ``(pi - t) / (1 - t)``, which is increasing in ``pi``, so the mapped
      interval has the prevalence interval's coverage (method ``"wilson"``), and it stays valid
      at a prevalence near 0 or 1 where the bootstrap's does not. The replicates of treat-all
      are still returned by ``NetBenefitCurve`` for paired comparisons (e.g.
      ``BootstrapResult.derive`` of model minus treat-all).

    Whether the model beats treat-all is a paired question, not one of overlapping intervals.
    With ``band_range = (low, high)`` the result also holds **simultaneous** bands over the
    thresholds in that range for model − treat-all and model − treat-none together (single-step
    max-T over the replicates, standardised by their bootstrap SDs; ``stats.simultaneous``), so a
    verdict judged "throughout the range" keeps its 95%.
    Under case-control sampling net benefit is not estimable (it depends on the prevalence): the
    utility check does not call this function then.
    """
    y, p = _check_data(y, p)
    curve = NetBenefitCurve(y, p, thresholds)
    t = curve.thresholds
    n = int(y.size)
    events = int(np.count_nonzero(y))
    lo, hi = wilson_interval(events, n, engine.confidence)
    everyone = treat_all(y, t)
    treat_all_estimates = [
        Estimate(everyone[j], ((lo - t[j]) / (1.0 - t[j]), (hi - t[j]) / (1.0 - t[j])), "wilson", n).to_dict() for j in range(t.size)
    ]
    return curve_summary(curve, p, engine, stream, design, band_range, treat_all_estimates)


def curve_summary(curve, p, engine, stream: str, design=None, band_range=None, treat_all_estimates=None) -> dict:
    """The bootstrap of a net-benefit statistic (columns ``[NB_model(t_1..t_T), NB_all(t_1..t_T)]``, e.g.
    :class:`NetBenefitCurve` or ``survival.SurvivalNetBenefit``) summarised as :func:`decision_curve` describes.
    ``treat_all_estimates`` (one estimate dict per threshold) replace the bootstrap of treat-all when given."""
    t = np.asarray(curve.thresholds, dtype=np.float64)
    T = t.size
    boot = engine.bootstrap(curve, design, stream)
    n = int(np.asarray(p).size)
    model = []
    for j in range(T):
        est = boot.estimate_at(j, n)
        flagged = int(np.count_nonzero(p >= t[j]))
        if est.ci is None and flagged == 0:
            # nobody is treated at this threshold, in the data and so in every resample: the bootstrap is
            # degenerate. The population's treated share is at most the exact upper bound u of 0/n, and
            # net benefit = TP/n - FP/n * t/(1-t) then lies in [-u t/(1-t), u].
            u = clopper_pearson_interval(0, n, engine.confidence)[1]
            odds = t[j] / (1.0 - t[j])
            est = Estimate(0.0, (-u * odds, u), "clopper-pearson-treated", n)
        model.append(est.to_dict())
    if treat_all_estimates is None:
        treat_all_estimates = [boot.estimate_at(T + j, n).to_dict() for j in range(T)]
    versus_all = boot.derive(lambda X: X[:, :T] - X[:, T:])
    vs_all = []
    for j in range(T):
        est = versus_all.estimate_at(j, n)
        if abs(est.value) < TIE and est.ci is None:  # model and treat-all treat the same patients: a tie
            est = Estimate(0.0, None, est.method, n, reason="a tie: the model treats the same patients as treat-all at this threshold")
        vs_all.append(est.to_dict())
    # standardised net benefit NB / prevalence (the prevalence of each replicate is recovered from its
    # treat-all column: pi = NB_all (1 - t) + t), and net interventions avoided per 100 patients,
    # (NB_model - NB_all) (1 - t) / t * 100 (Vickers et al., BMJ 2016), a positive multiple of the
    # paired difference, so its interval is the difference's interval times the same factor
    snb = boot.derive(lambda X: X[:, :T] / (X[:, T:] * (1.0 - t) + t))
    factor = (1.0 - t) / t * 100.0
    avoided = []
    for j, d in enumerate(vs_all):
        scale = lambda v, f=factor[j]: None if v is None else v * f  # noqa: E731
        avoided.append({**d, "value": scale(d["value"]), "ci": None if d["ci"] is None else [scale(c) for c in d["ci"]]})
    out = {
        "thresholds": [float(x) for x in t],
        "model": model,
        "treat_all": treat_all_estimates,
        "treat_none": 0.0,
        "model_minus_treat_all": vs_all,
        "standardised": [snb.estimate_at(j, n).to_dict() for j in range(T)],
        "interventions_avoided_per_100": avoided,
    }
    if band_range is not None:
        out["simultaneous"] = _simultaneous_band(t, boot, versus_all, band_range, engine.confidence)
    return out


def _simultaneous_band(t, boot, versus_all, band_range, confidence: float) -> dict:
    """Max-T bands over the thresholds in ``band_range`` for model − treat-all and model − treat-none jointly."""
    from .bootstrap import nan_std
    from .simultaneous import max_t

    inside = np.flatnonzero((t >= band_range[0] - 1e-12) & (t <= band_range[1] + 1e-12))
    est = np.r_[versus_all.estimate[inside], boot.estimate[inside]]
    reps = np.hstack([versus_all.replicates[:, inside], boot.replicates[:, inside]])
    se = nan_std(reps)
    se = np.where(se > TIE, se, np.nan)  # a tie in every resample: no band (judged as a tie)
    res = max_t(est, reps, se, confidence)
    k = inside.size

    def band(lo, hi):
        return [None if not np.isfinite(a) else [float(a), float(b)] for a, b in zip(lo, hi)]

    return {
        "range": [float(band_range[0]), float(band_range[1])],
        "thresholds": [float(x) for x in t[inside]],
        "critical_value": None if not np.isfinite(res.critical) else float(res.critical),
        "model_minus_treat_all": band(res.low[:k], res.high[:k]),
        "model_minus_treat_none": band(res.low[k:], res.high[k:]),
        "method": f"max-T over {res.n_comparisons} differences",
    }
