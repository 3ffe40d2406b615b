"""The counter-based random numbers of ghostsym: a draw is a function of (seed, stream, counter).

A network's random initial states and noise are numbered, not sequential: the engine asks for
normal number block ``b`` of stream ``key`` (block = epoch·B + trial for initial states,
(epoch·B + trial)·S + step for the noise inside φ), so the draws of epoch e depend only on
(seed, e). Chunked, resumed and parallel runs are therefore bit-identical to one
uninterrupted run, and networks trained together share nothing.

* :func:`mix64` — the SplitMix64 finaliser, a bijective 64-bit hash;
* :func:`stream_key` — the key of stream ``STREAM_*`` of a network with a given seed;
* :func:`uniform` — 53 random bits of (key, counter) as a number in the open interval (0, 1);
* :func:`normal_quantile` — Φ⁻¹ (Wichura's AS241, PPND16);
* :func:`fill_normal` — a block of standard normal numbers, Φ⁻¹(uniform(key, counter)).

numba and NumPy only; kernels and templates import these by absolute import.
"""

import math

import numba
import numpy as np

_NJIT = {"cache": True, "error_model": "numpy"}

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)

#: Streams of one network: random initial states, noise inside φ.
STREAM_X0 = 0x5851F42D4C957F2D
STREAM_NOISE = 0x14057B7EF767814F

#: |p − ½| up to which Φ⁻¹ is AS241's central rational function (85 % of the draws).
CENTRAL = 0.425


@numba.njit(**_NJIT)
def mix64(z):
    """SplitMix64 finaliser (a bijective 64-bit hash)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(**_NJIT)
def stream_key(seed, stream):
    """The key of one random stream of one network."""
    return mix64(mix64(np.uint64(seed) + _GOLDEN) ^ np.uint64(stream))


#: Keys and counters are unsigned 64-bit: compiled for those types only, so that Python ints
#: of any size (numba returns uint64 keys to Python as ints) convert rather than overflow.
@numba.njit(["float64(uint64, uint64)"], **_NJIT)
def uniform(key, counter):
    """Uniform on the open interval (0, 1), 53 random bits."""
    z = mix64(np.uint64(key) + np.uint64(counter) * _GOLDEN)
    return (float(np.int64(z >> _S11)) + 0.5) * (1.0 / 9007199254740992.0)


@numba.njit(inline="always", **_NJIT)
def _central(q):
    """AS241's central rational approximation of Φ⁻¹(½ + q), valid for |q| ≤ 0.425."""
    r = 0.180625 - q * q
    num = (
        (
            (
                (
                    (
                        (
                            (2.5090809287301226727e3 * r + 3.3430575583588128105e4) * r
                            + 6.7265770927008700853e4
                        )
                        * r
                        + 4.5921953931549871457e4
                    )
                    * r
                    + 1.3731693765509461125e4
                )
                * r
                + 1.9715909503065514427e3
            )
            * r
            + 1.3314166789178437745e2
        )
        * r
        + 3.3871328727963666080e0
    ) * q
    den = (
        (
            (
                (
                    (
                        (5.2264952788528545610e3 * r + 2.8729085735721942674e4) * r
                        + 3.9307895800092710610e4
                    )
                    * r
                    + 2.1213794301586595867e4
                )
                * r
                + 5.3941960214247511077e3
            )
            * r
            + 6.8718700749205790830e2
        )
        * r
        + 4.2313330701600911252e1
    ) * r + 1.0
    return num / den


@numba.njit(**_NJIT)
def normal_quantile(p):
    """Φ⁻¹(p) for 0 < p < 1: Wichura's AS241 (PPND16, relative error ~1e-16; Appl. Statist.
    37, 477, 1988). The central 85 % needs no transcendental function."""
    q = p - 0.5
    if abs(q) <= CENTRAL:
        return _central(q)
    r = p if q <= 0.0 else 1.0 - p
    r = math.sqrt(-math.log(r))
    if r <= 5.0:
        r -= 1.6
        num = (
            (
                (
                    (
                        (
                            (7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r
                            + 2.41780725177450611770e-1
                        )
                        * r
                        + 1.27045825245236838258e0
                    )
                    * r
                    + 3.64784832476320460504e0
                )
                * r
                + 5.76949722146069140550e0
            )
            * r
            + 4.63033784615654529590e0
        ) * r + 1.42343711074968357734e0
        den = (
            (
                (
                    (
                        (
                            (1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r
                            + 1.51986665636164571966e-2
                        )
                        * r
                        + 1.48103976427480074590e-1
                    )
                    * r
                    + 6.89767334985100004550e-1
                )
                * r
                + 1.67638483018380384940e0
            )
            * r
            + 2.05319162663775882187e0
        ) * r + 1.0
    else:
        r -= 5.0
        num = (
            (
                (
                    (
                        (
                            (2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                            + 1.24266094738807843860e-3
                        )
                        * r
                        + 2.65321895265761230930e-2
                    )
                    * r
                    + 2.96560571828504891230e-1
                )
                * r
                + 1.78482653991729133580e0
            )
            * r
            + 5.46378491116411436990e0
        ) * r + 6.65790464350110377720e0
        den = (
            (
                (
                    (
                        (
                            (2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r
                            + 1.84631831751005468180e-5
                        )
                        * r
                        + 7.86869131145613259100e-4
                    )
                    * r
                    + 1.48753612908506148525e-2
                )
                * r
                + 1.36929880922735805310e-1
            )
            * r
            + 5.99832206555887937690e-1
        ) * r + 1.0
    x = num / den
    return -x if q < 0.0 else x


@numba.njit(["void(uint64, int64, float64[::1])", "void(uint64, uint64, float64[::1])"], **_NJIT)
def fill_normal(key, block, out):
    """Fill ``out`` (size n) with standard normal numbers n·block … n·block + n − 1 of
    stream ``key``: Φ⁻¹ of counter-based uniforms, so distinct blocks never share a draw.

    Two passes, same numbers as ``normal_quantile(uniform(key, counter))``: a branch-free
    pass evaluates the central rational (85 % of the draws) and marks the tails with NaN; a
    second pass redoes the marked ones with the full AS241 (≈1.6× faster than one pass)."""
    n = out.size
    base = np.uint64(block) * np.uint64(n)
    k = np.uint64(key)
    for i in range(n):
        z = mix64(k + (base + np.uint64(i)) * _GOLDEN)
        q = (float(np.int64(z >> _S11)) + 0.5) * (1.0 / 9007199254740992.0) - 0.5
        value = _central(q)
        out[i] = value if abs(q) <= CENTRAL else math.nan
    for i in range(n):
        if math.isnan(out[i]):
            out[i] = normal_quantile(uniform(k, base + np.uint64(i)))
