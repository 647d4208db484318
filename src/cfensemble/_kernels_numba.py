"""The numba kernels of :mod:`cfensemble._kernels` (imported only when numba is installed)."""

import numba
import numpy as np


@numba.njit(parallel=True, cache=True)
def instance_kernel(P0, C, outer, Xa, a, lam, jit, out):  # pragma: no cover - compiled
    # W rows at a time, batch last, so each step is a loop over rows that vectorises
    k, m = C.shape
    e = Xa.shape[1]
    t = outer.shape[1]
    W = 64
    for chunk in numba.prange((k + W - 1) // W):
        lo = chunk * W
        w = min(k, lo + W) - lo
        G = np.zeros((t, W))
        R = np.zeros((e, W))
        Ct = np.empty((m, W))
        Tt = np.empty((m, W))
        nn = np.zeros(W)
        for i in range(w):
            for u in range(m):
                cu = C[lo + i, u]
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
        tr = np.zeros(W)
        for p in range(e):
            pp = p * (p + 1) // 2 + p
            for i in range(w):
                tr[i] += G[pp, i]
        for p in range(e):
            pp = p * (p + 1) // 2 + p
            for i in range(w):
                G[pp, i] += max(lam * nn[i], jit * tr[i] / e) + 1e-300
        inv = np.empty((e, W))
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
        for i in range(w):
            for p in range(e):
                out[lo + i, p] = R[p, i]
