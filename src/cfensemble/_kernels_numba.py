"""The numba kernels of :mod:`cfensemble._kernels` (imported only when numba is installed)."""

import logging
import os

import numba
import numpy as np


@numba.njit(cache=True)
def _solve_rows(
    P0, C_free, raw, outer, Xa, a, lam, jit, lo, G, R, Ct, Pt, Tt, nn, tr, inv
):  # pragma: no cover
    # Rows lo .. lo + W of the instance step, batch last: builds each row's Gram matrix and
    # right-hand side in G (packed lower triangle) and R, factorizes G = L L^T in place and
    # leaves the solution in R (inv: 1 / diag(L)). Ct, Pt: the rows' confidences and
    # predictions (0 where missing); raw: P0 is P itself with NaN where missing and the
    # confidence is 1 on every observed entry (C_free is not read). Returns the rows done.
    k, m = P0.shape
    e = Xa.shape[1]
    t = outer.shape[1]
    W = G.shape[1]
    w = min(k, lo + W) - lo
    G[:, :] = 0.0
    R[:, :] = 0.0
    nn[:] = 0.0
    tr[:] = 0.0
    for i in range(w):
        for u in range(m):
            p = P0[lo + i, u]
            if raw:
                cu = 1.0 if p == p else 0.0  # p != p: NaN, a missing prediction
                p = p if p == p else 0.0
            else:
                cu = C_free[lo + i, u]
            Ct[u, i] = cu
            Pt[u, i] = p
            Tt[u, i] = cu * (p - a[u])
            nn[i] += cu
    for u in range(m):
        for s in range(t):
            o = outer[u, s]
            for i in range(w):
                G[s, i] += Ct[u, i] * o
        for p in range(e):
            x = Xa[u, p]
            for i in range(w):
                R[p, i] += Tt[u, i] * x
    for p in range(e):
        pp = p * (p + 1) // 2 + p
        for i in range(w):
            tr[i] += G[pp, i]
    for p in range(e):
        pp = p * (p + 1) // 2 + p
        for i in range(w):
            G[pp, i] += max(lam * nn[i], jit * tr[i] / e) + 1e-300
    for j in range(e):
        jj = j * (j + 1) // 2
        for q in range(j):
            for i in range(w):
                G[jj + j, i] -= G[jj + q, i] * G[jj + q, i]
        for i in range(w):
            d = np.sqrt(max(G[jj + j, i], 1e-300))
            G[jj + j, i] = d
            inv[j, i] = 1.0 / d
        for p in range(j + 1, e):
            pp = p * (p + 1) // 2
            for q in range(j):
                for i in range(w):
                    G[pp + j, i] -= G[pp + q, i] * G[jj + q, i]
            for i in range(w):
                G[pp + j, i] *= inv[j, i]
    for p in range(e):
        pp = p * (p + 1) // 2
        for q in range(p):
            for i in range(w):
                R[p, i] -= G[pp + q, i] * R[q, i]
        for i in range(w):
            R[p, i] *= inv[p, i]
    for p in range(e - 1, -1, -1):
        for q in range(p + 1, e):
            qq = q * (q + 1) // 2 + p
            for i in range(w):
                R[p, i] -= G[qq, i] * R[q, i]
        for i in range(w):
            R[p, i] *= inv[p, i]
    return w


@numba.njit(cache=True)
def _scratch(t, e, m, W):  # pragma: no cover - compiled
    # the working arrays of _solve_rows for W rows
    return (
        np.empty((t, W)),
        np.empty((e, W)),
        np.empty((m, W)),
        np.empty((m, W)),
        np.empty((m, W)),
        np.empty(W),
        np.empty(W),
        np.empty((e, W)),
    )


@numba.njit(parallel=True, cache=True)
def instance_kernel(P0, C, outer, Xa, a, lam, jit, out):  # pragma: no cover - compiled
    # The instance step: W rows at a time in a parallel loop (see _solve_rows)
    k, m = C.shape
    e = Xa.shape[1]
    t = outer.shape[1]
    W = 64
    for chunk in numba.prange((k + W - 1) // W):
        lo = chunk * W
        G, R, Ct, Pt, Tt, nn, tr, inv = _scratch(t, e, m, W)
        w = _solve_rows(P0, C, False, outer, Xa, a, lam, jit, lo, G, R, Ct, Pt, Tt, nn, tr, inv)
        for i in range(w):
            for p in range(e):
                out[lo + i, p] = R[p, i]


@numba.njit(cache=True)
def _householder_r(H, rows, Rg):  # pragma: no cover - compiled
    # Rg (d, d) <- the R factor of the (rows, d) matrix stored transposed in H[:, :rows]
    # (Householder; H is overwritten)
    d = H.shape[0]
    Rg[:, :] = 0.0
    for j in range(min(d, rows)):
        norm = 0.0
        for r in range(j, rows):
            norm += H[j, r] * H[j, r]
        norm = np.sqrt(norm)
        if norm == 0.0:  # nothing to eliminate: the row of R is the column entries as they are
            for q in range(j + 1, d):
                Rg[j, q] = H[q, j]
            continue
        alpha = -norm if H[j, j] > 0 else norm
        H[j, j] -= alpha  # v = x - alpha e_1, kept in H[j, j:rows]
        vv = norm * norm - 2.0 * alpha * (H[j, j] + alpha) + alpha * alpha
        Rg[j, j] = alpha
        for q in range(j + 1, d):
            dot = 0.0
            for r in range(j, rows):
                dot += H[j, r] * H[q, r]
            f = 2.0 * dot / vv
            for r in range(j, rows):
                H[q, r] -= f * H[j, r]
            Rg[j, q] = H[q, j]


@numba.njit(parallel=True, cache=True)
def sweep_kernel(
    P0,
    C_free,
    C,
    raw,
    outer,
    Xa,
    a,
    lam,
    jit,
    theta,
    gram_parts,
    rhs_parts,
    col_parts,
    sum_parts,
    r_parts,
    group,
):  # pragma: no cover - compiled
    # The instance step of a block and, at its solution, everything the rest of the
    # iteration needs, summed per group of `group` rows (a fixed partition: the sums never
    # depend on the number of threads):
    #   gram_parts, rhs_parts  the classifier step's normal equations (confidence C);
    #   col_parts[g, 0 / 1]    the column sums of C and of C_free;
    #   sum_parts[g]           sum C_free residual^2, sum n_i (|y_i|^2 + c_i^2), sum n_i;
    #   r_parts[g]             R factor of the rows sqrt(n_i) y_i (Householder).
    # raw: see _solve_rows (then C = C_free, and neither is read).
    k, m = P0.shape
    e = Xa.shape[1]
    d = e - 1
    t = outer.shape[1]
    W = 64
    for g in numba.prange(gram_parts.shape[0]):
        gacc = gram_parts[g]
        racc = rhs_parts[g]
        cacc = col_parts[g]
        sacc = sum_parts[g]
        Rg = r_parts[g]
        gacc[:, :] = 0.0
        racc[:, :] = 0.0
        cacc[:, :] = 0.0
        sacc[:] = 0.0
        G, R, Ct, Pt, Tt, nn, tr, inv = _scratch(t, e, m, W)
        ya = np.empty(e)
        yo = np.empty(t)
        H = np.empty((d, group))
        first = g * group
        for lo in range(g * group, min(k, (g + 1) * group), W):
            w = _solve_rows(
                P0, C_free, raw, outer, Xa, a, lam, jit, lo, G, R, Ct, Pt, Tt, nn, tr, inv
            )
            for i in range(w):
                row = lo + i
                for p in range(e):
                    theta[row, p] = R[p, i]
                    ya[p] = R[p, i]
                ya[e - 1] = 1.0  # the classifier step's design row (y_i, 1)
                total = 0.0
                for u in range(m):
                    pred = a[u]
                    for p in range(e):
                        pred += Xa[u, p] * R[p, i]
                    res = Pt[u, i] - pred
                    total += Ct[u, i] * res * res
                    cacc[1, u] += Ct[u, i]
                sacc[0] += total
                norm = 0.0
                for p in range(e):
                    norm += R[p, i] * R[p, i]
                sacc[1] += nn[i] * norm
                sacc[2] += nn[i]
                root = np.sqrt(nn[i])
                for p in range(d):
                    H[p, row - first] = root * R[p, i]
                pos = 0
                for p in range(e):
                    for q in range(p + 1):
                        yo[pos] = ya[p] * ya[q]
                        pos += 1
                c_i = R[e - 1, i]
                for u in range(m):
                    cu = Ct[u, i] if raw else C[row, u]
                    cacc[0, u] += cu
                    tu = cu * (Pt[u, i] - c_i)
                    for s in range(t):
                        gacc[u, s] += cu * yo[s]
                    for p in range(e):
                        racc[u, p] += tu * ya[p]
        _householder_r(H, min(k, first + group) - first, Rg)


def _compiled_before() -> bool:
    """Whether numba's on-disk cache holds the kernels (else the first call compiles them).
    Reads numba's cache locator, a private API: where it changes, assume a cache."""
    try:
        return all(
            os.path.exists(kernel._cache._cache_file._index_path)  # type: ignore[union-attr]
            for kernel in (instance_kernel, sweep_kernel)
        )
    except AttributeError:
        return True


if not _compiled_before():  # once per process, on the first use of the kernels
    logging.getLogger("cfensemble").warning(
        "cfensemble: compiling the numba kernels (once per install, about 10-20 s) ..."
    )
