"""The numba kernels of :mod:`cfensemble._kernels` (imported only when numba is installed)."""

import numba
import numpy as np


@numba.njit(cache=True)
def _solve_rows(
    P0, C_free, outer, Xa, a, lam, jit, lo, G, R, Ct, Tt, nn, tr, inv
):  # pragma: no cover
    # Rows lo .. lo + W of the instance step, batch last: builds each row's Gram matrix and
    # right-hand side in G (packed lower triangle) and R, factorizes G = L L^T in place and
    # leaves the solution in R (inv: 1 / diag(L)). Returns the number of rows done.
    k, m = C_free.shape
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
            cu = C_free[lo + i, u]
            Ct[u, i] = cu
            Tt[u, i] = cu * (P0[lo + i, u] - a[u])
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
        G, R, Ct, Tt, nn, tr, inv = _scratch(t, e, m, W)
        w = _solve_rows(P0, C, outer, Xa, a, lam, jit, lo, G, R, Ct, Tt, nn, tr, inv)
        for i in range(w):
            for p in range(e):
                out[lo + i, p] = R[p, i]


@numba.njit(parallel=True, cache=True)
def sweep_kernel(
    P0, C_free, C, outer, Xa, a, lam, jit, theta, data_term, gram_parts, rhs_parts, group
):  # pragma: no cover - compiled
    # The instance step of a block and, at its solution, each row's weighted squared
    # residual and the classifier step's normal equations, summed per group of `group` rows
    # (a fixed partition: the sums never depend on the number of threads).
    k, m = C.shape
    e = Xa.shape[1]
    t = outer.shape[1]
    W = 64
    for g in numba.prange(gram_parts.shape[0]):
        gacc = gram_parts[g]
        racc = rhs_parts[g]
        gacc[:, :] = 0.0
        racc[:, :] = 0.0
        G, R, Ct, Tt, nn, tr, inv = _scratch(t, e, m, W)
        ya = np.empty(e)
        yo = np.empty(t)
        for lo in range(g * group, min(k, (g + 1) * group), W):
            w = _solve_rows(P0, C_free, outer, Xa, a, lam, jit, lo, G, R, Ct, Tt, nn, tr, inv)
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
                    res = P0[row, u] - pred
                    total += C_free[row, u] * res * res
                data_term[row] = total
                pos = 0
                for p in range(e):
                    for q in range(p + 1):
                        yo[pos] = ya[p] * ya[q]
                        pos += 1
                c_i = R[e - 1, i]
                for u in range(m):
                    cu = C[row, u]
                    tu = cu * (P0[row, u] - c_i)
                    for s in range(t):
                        gacc[u, s] += cu * yo[s]
                    for p in range(e):
                        racc[u, p] += tu * ya[p]
