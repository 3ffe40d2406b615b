"""What the two RNN engines share: arithmetic in one fixed operation order (docs/performance.md
§6), the accuracy rules, the readout's z and the fixed-confidence projection.

The one-network engine (:mod:`ghostsym.numerics.rnn_template`) and the batched engine
(:mod:`ghostsym.numerics.rnn_batched_template`, networks side by side in SIMD lanes) must give
bit-identical results. Neither may therefore leave an operation order to the compiler: no
``fastmath`` (no re-association, no FMA contraction), no BLAS, and every reduction written
out in the one order defined here, which vectorises without re-association:

* :func:`dot8` — Σᵢ aᵢbᵢ into eight partial sums (entry i goes to sum i mod 8, in index
  order), combined as ((s₀+s₁)+(s₂+s₃))+((s₄+s₅)+(s₆+s₇));
  :func:`dot8_lanes` computes the same, bit for bit, for every lane of [N, lanes] arrays;
* :func:`sumsq8` / :func:`sumsq8_lanes` — Σᵢ aᵢaᵢmᵢ in that order;
* :func:`matvec_seq` / :func:`matmat_seq` — Σ_j a[j, i]·x[j] for every output i, summed in
  index order j from 0.0 (W x, Wᵀδ, ∂W of full rank); rows of ``a`` streamed, several at a
  time, into a float64 accumulator row, so the loop over i vectorises with no latency chain;
* :func:`vexp` — exp(y) from a Cody–Waite reduction, a degree-13 Taylor polynomial and a
  scale 2^k built from its bit pattern: branch-free, so a loop of it vectorises (libm's ``exp`` is a
  scalar call); relative error ≤ 1.1 ulp on the normal range, ``inf`` above ≈ 709.78, 0
  below ≈ −745.1, NaN for NaN. The RNN code generator prints every ``exp`` of an engine
  kernel as ``vexp`` (:mod:`ghostsym.codegen.rnn`).

The partial sums are float64 scalars (or float64 lane arrays) whatever the dtype of the
inputs, so a float32 engine accumulates the same way in both engines.

:func:`is_correct` (the accuracy rules, the one place to add one: see
:mod:`ghostsym.numerics.spec`), :func:`readout_z` (z of the readouts without weights over x,
or with the population dot product given) and :func:`project_readout` are written once here
for both engines; they take 1-D views, so the batched engine passes a lane's column.

numba and NumPy only.
"""

import math

import numba
from numba.core import types
from numba.extending import intrinsic

from ghostsym.numerics.spec import (
    ACCURACY_GE_HALF,
    ACCURACY_GT_HALF,
    I_N,
    I_O_BOUT,
    I_O_C,
    I_O_WOUT,
    READOUT_FIXED_CONFIDENCE,
    READOUT_LATENT,
    READOUT_LATENT_LINEAR,
)

_NJIT = {"cache": True, "error_model": "numpy"}

#: Number of partial sums of :func:`dot8`.
PARTIALS = 8

_LN2_HI = 6.93147180369123816490e-01  # fdlibm's ln 2 split: k·LN2_HI is exact for |k| < 2²⁰
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_ROUND = 6755399441055744.0  # 1.5·2⁵²: (x + R) − R rounds x to an integer, |x| < 2⁵¹
_EXP_OVERFLOW = 709.782712893384
_EXP_UNDERFLOW = -745.1332191019412


@intrinsic
def _bits_as_float(typingctx, bits):
    """The float64 whose IEEE bit pattern is the int64 ``bits`` (an LLVM bitcast)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


@numba.njit(inline="always", **_NJIT)
def _pow2(k):
    """2^k for an integer −1022 ≤ k ≤ 1023 (exact: built from its bit pattern)."""
    return _bits_as_float((k + 1023) << 52)


@numba.njit(inline="always", **_NJIT)
def vexp(y):
    """exp(y), branch-free (see the module docstring); float64."""
    y = float(y)
    kf = (y * _INV_LN2 + _ROUND) - _ROUND
    kf = kf if kf >= -1080.0 else -1080.0
    kf = kf if kf <= 1080.0 else 1080.0
    r = (y - kf * _LN2_HI) - kf * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k = int(kf)  # NaN gives some integer: clamped below
    k1 = k >> 1
    k1 = min(max(k1, -540), 540)
    k2 = min(max(k - k1, -540), 540)
    v = (p * _pow2(k1)) * _pow2(k2)
    v = math.inf if y > _EXP_OVERFLOW else v
    v = 0.0 if y < _EXP_UNDERFLOW else v
    return v


@numba.njit(**_NJIT)
def dot8(a, b):
    """Σᵢ a[i]·b[i] in the fixed order of the module docstring (float64 result)."""
    n = a.size
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    m = n - n % 8
    for c in range(0, m, 8):
        s0 += a[c] * b[c]
        s1 += a[c + 1] * b[c + 1]
        s2 += a[c + 2] * b[c + 2]
        s3 += a[c + 3] * b[c + 3]
        s4 += a[c + 4] * b[c + 4]
        s5 += a[c + 5] * b[c + 5]
        s6 += a[c + 6] * b[c + 6]
        s7 += a[c + 7] * b[c + 7]
    r = n - m
    if r > 0:
        s0 += a[m] * b[m]
    if r > 1:
        s1 += a[m + 1] * b[m + 1]
    if r > 2:
        s2 += a[m + 2] * b[m + 2]
    if r > 3:
        s3 += a[m + 3] * b[m + 3]
    if r > 4:
        s4 += a[m + 4] * b[m + 4]
    if r > 5:
        s5 += a[m + 5] * b[m + 5]
    if r > 6:
        s6 += a[m + 6] * b[m + 6]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@numba.njit(**_NJIT)
def sumsq8(a, mask):
    """Σᵢ a[i]·a[i]·mask[i] in the fixed order of :func:`dot8`."""
    n = a.size
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    m = n - n % 8
    for c in range(0, m, 8):
        s0 += a[c] * a[c] * mask[c]
        s1 += a[c + 1] * a[c + 1] * mask[c + 1]
        s2 += a[c + 2] * a[c + 2] * mask[c + 2]
        s3 += a[c + 3] * a[c + 3] * mask[c + 3]
        s4 += a[c + 4] * a[c + 4] * mask[c + 4]
        s5 += a[c + 5] * a[c + 5] * mask[c + 5]
        s6 += a[c + 6] * a[c + 6] * mask[c + 6]
        s7 += a[c + 7] * a[c + 7] * mask[c + 7]
    r = n - m
    if r > 0:
        s0 += a[m] * a[m] * mask[m]
    if r > 1:
        s1 += a[m + 1] * a[m + 1] * mask[m + 1]
    if r > 2:
        s2 += a[m + 2] * a[m + 2] * mask[m + 2]
    if r > 3:
        s3 += a[m + 3] * a[m + 3] * mask[m + 3]
    if r > 4:
        s4 += a[m + 4] * a[m + 4] * mask[m + 4]
    if r > 5:
        s5 += a[m + 5] * a[m + 5] * mask[m + 5]
    if r > 6:
        s6 += a[m + 6] * a[m + 6] * mask[m + 6]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@numba.njit(inline="always", **_NJIT)
def _combine(acc, out):
    for lane in range(out.size):
        out[lane] = ((acc[0, lane] + acc[1, lane]) + (acc[2, lane] + acc[3, lane])) + (
            (acc[4, lane] + acc[5, lane]) + (acc[6, lane] + acc[7, lane])
        )


@numba.njit(**_NJIT)
def dot8_lanes(a, b, acc, out):
    """out[l] = dot8(a[:, l], b[:, l]) for every lane l of [N, lanes] arrays, bit for bit;
    ``acc`` is a float64 [8, lanes] scratch array."""
    lanes = out.size
    acc[:, :] = 0.0
    for i in range(a.shape[0]):
        r = i % 8
        for lane in range(lanes):
            acc[r, lane] += a[i, lane] * b[i, lane]
    _combine(acc, out)


@numba.njit(**_NJIT)
def sumsq8_lanes(a, mask, acc, out):
    """out[l] = sumsq8(a[:, l], mask) for every lane of an [N, lanes] array, bit for bit."""
    lanes = out.size
    acc[:, :] = 0.0
    for i in range(a.shape[0]):
        r = i % 8
        mi = mask[i]
        for lane in range(lanes):
            acc[r, lane] += a[i, lane] * a[i, lane] * mi
    _combine(acc, out)


TERNARY_THRESHOLD = 0.33


@numba.njit(**_NJIT)
def is_correct(kind, yhat, target):
    """1 if the output ``yhat`` counts as correct for ``target`` under accuracy rule ``kind``."""
    if kind == ACCURACY_GT_HALF:
        pred = 1.0 if yhat > 0.5 else 0.0
    elif kind == ACCURACY_GE_HALF:
        pred = 1.0 if yhat >= 0.5 else 0.0
    else:
        if yhat <= -TERNARY_THRESHOLD:
            pred = -1.0
        elif yhat >= TERNARY_THRESHOLD:
            pred = 1.0
        else:
            pred = 0.0
    return 1 if pred == target else 0


@numba.njit(**_NJIT)
def readout_z(readout, theta, o_bout, o_wout, o_ks, c_value, rank, kappa, pdot, l1):
    """z of one output: ``theta`` a network's θ, ``kappa`` its κ at the read state, ``pdot``
    the population dot product w_outᵀx (dot8), ``l1`` = ‖w_out‖₁ (fixed confidence)."""
    if readout == READOUT_LATENT:
        z = c_value * (kappa[0] - theta[o_ks])
    elif readout == READOUT_LATENT_LINEAR:
        z = theta[o_bout]
        for k in range(rank):
            z += theta[o_wout + k] * kappa[k]
    else:
        z = theta[o_bout] + pdot
        if readout == READOUT_FIXED_CONFIDENCE:
            z = c_value * z / l1
    return z


@numba.njit(**_NJIT)
def l1_norm(theta, o_wout, n):
    """‖w_out‖₁, summed in index order (float64)."""
    l1 = 0.0
    for i in range(n):
        l1 += abs(theta[o_wout + i])
    return l1


@numba.njit(**_NJIT)
def project_readout(theta, ispec):
    """The authors' fixed-confidence projection (docs/experiments.md §8.4), in place:
    w_out ← c w_out/‖w_out‖₁, b_out ← c b_out/‖w_out‖₁; nothing when c = ∞."""
    c_value = theta[ispec[I_O_C]]
    if not math.isfinite(c_value):
        return
    n = ispec[I_N]
    o_wout = ispec[I_O_WOUT]
    f = c_value / l1_norm(theta, o_wout, n)
    for i in range(n):
        theta[o_wout + i] *= f
    theta[ispec[I_O_BOUT]] *= f


@numba.njit(**_NJIT)
def beyond(values, mask, bound):
    """True if an entry with ``mask != 0`` (all entries if ``mask`` is empty) is NaN or has
    |value| > ``bound`` (divergence by magnitude; reads only, changes nothing)."""
    masked = mask.size > 0
    for i in range(values.size):
        if (not masked or mask[i] != 0.0) and not abs(values[i]) <= bound:
            return True
    return False


@numba.njit(**_NJIT)
def matvec_seq(a, x, out, acc):
    """out[i] = Σ_j a[j, i]·x[j], summed in index order j from 0.0 (a: [n_j, n_i]; ``acc`` a
    float64 scratch array with a row of length ≥ n_i). Row j of ``a`` is streamed once,
    four rows per sweep over i (each output still adds its terms one at a time, j = 0, 1, …),
    so the loop over i vectorises without re-association and has no latency chain."""
    nj, ni = a.shape
    p = acc[0]
    for i in range(ni):
        p[i] = 0.0
    m = nj - nj % 4
    for j in range(0, m, 4):
        x0 = x[j]
        x1 = x[j + 1]
        x2 = x[j + 2]
        x3 = x[j + 3]
        r0 = a[j]
        r1 = a[j + 1]
        r2 = a[j + 2]
        r3 = a[j + 3]
        for i in range(ni):
            p[i] = (((p[i] + r0[i] * x0) + r1[i] * x1) + r2[i] * x2) + r3[i] * x3
    for j in range(m, nj):
        xj = x[j]
        r0 = a[j]
        for i in range(ni):
            p[i] += r0[i] * xj
    for i in range(ni):
        out[i] = p[i]


@numba.njit(**_NJIT)
def _matvec_pair(a, xa, xc, oa, oc, acc):
    """:func:`matvec_seq` of two vectors at once: each row of ``a`` is loaded once for both."""
    nj, ni = a.shape
    p = acc[0]
    q = acc[1]
    for i in range(ni):
        p[i] = 0.0
        q[i] = 0.0
    m = nj - nj % 4
    for j in range(0, m, 4):
        a0 = xa[j]
        a1 = xa[j + 1]
        a2 = xa[j + 2]
        a3 = xa[j + 3]
        c0 = xc[j]
        c1 = xc[j + 1]
        c2 = xc[j + 2]
        c3 = xc[j + 3]
        r0 = a[j]
        r1 = a[j + 1]
        r2 = a[j + 2]
        r3 = a[j + 3]
        for i in range(ni):
            p[i] = (((p[i] + r0[i] * a0) + r1[i] * a1) + r2[i] * a2) + r3[i] * a3
            q[i] = (((q[i] + r0[i] * c0) + r1[i] * c1) + r2[i] * c2) + r3[i] * c3
    for j in range(m, nj):
        r0 = a[j]
        a0 = xa[j]
        c0 = xc[j]
        for i in range(ni):
            p[i] += r0[i] * a0
            q[i] += r0[i] * c0
    for i in range(ni):
        oa[i] = p[i]
        oc[i] = q[i]


@numba.njit(**_NJIT)
def matmat_seq(a, xb, out, acc):
    """out[b, i] = Σ_j a[j, i]·xb[b, j] for every b, each exactly :func:`matvec_seq` of
    ``xb[b]`` (a: [n_j, n_i], xb: [n_b, n_j], out: [n_b, n_i], acc: float64 [2, ≥ n_i]);
    vectors go in pairs, so each row of ``a`` is read once per pair (a register-tiled
    matrix product whose every element keeps the summation order j = 0, 1, …)."""
    nb = xb.shape[0]
    for b in range(0, nb - nb % 2, 2):
        _matvec_pair(a, xb[b], xb[b + 1], out[b], out[b + 1], acc)
    if nb % 2 == 1:
        matvec_seq(a, xb[nb - 1], out[nb - 1], acc)


@numba.njit(**_NJIT)
def matvec_seq_lanes(a, x, out):
    """out[i, l] = Σ_j a[j, i, l]·x[j, l] for every lane, the order of :func:`matvec_seq`
    (a: [n_j, n_i, lanes], x: [n_j, lanes], out: [n_i, lanes])."""
    nj, ni, lanes = a.shape
    if lanes == 8:
        for i in range(ni):
            s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
            for j in range(nj):
                s0 += a[j, i, 0] * x[j, 0]
                s1 += a[j, i, 1] * x[j, 1]
                s2 += a[j, i, 2] * x[j, 2]
                s3 += a[j, i, 3] * x[j, 3]
                s4 += a[j, i, 4] * x[j, 4]
                s5 += a[j, i, 5] * x[j, 5]
                s6 += a[j, i, 6] * x[j, 6]
                s7 += a[j, i, 7] * x[j, 7]
            out[i, 0] = s0
            out[i, 1] = s1
            out[i, 2] = s2
            out[i, 3] = s3
            out[i, 4] = s4
            out[i, 5] = s5
            out[i, 6] = s6
            out[i, 7] = s7
        return
    for i in range(ni):
        for lane in range(lanes):
            s = 0.0
            for j in range(nj):
                s += a[j, i, lane] * x[j, lane]
            out[i, lane] = s


@numba.njit(**_NJIT)
def matvec_seq_lanes_t(a, x, out):
    """out[i, l] = Σ_j a[i, j, l]·x[j, l] (a: [n_i, n_j, lanes]): :func:`matvec_seq_lanes` of
    the transposed view, so the same operations in the same order."""
    matvec_seq_lanes(a.transpose((1, 0, 2)), x, out)
