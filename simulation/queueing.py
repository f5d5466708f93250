"""Loss-system formulas: Erlang-B, a loss system with state-dependent admission, overflow moments.

One pool of ``c`` beds with Poisson arrivals at rate ``lambda`` and stays of mean ``E[S]``, where
a child who finds no bed goes elsewhere (spot), is an M/G/c/c loss system. Its blocking
probability is Erlang's B formula for the offered load ``a = lambda * E[S]`` whatever the stay
distribution (insensitivity: Sevastyanov, 1957; see docs/sources.md#theory, and docs/model.md
for the tests that check the simulation against it).

Erlang-B is computed by the stable recursion ``B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1))``,
which never forms ``a**c`` or ``c!`` and so neither overflows nor loses precision for hundreds
of servers.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


def erlang_b(servers: int, offered_load: float) -> float:
    """Blocking probability of an M/G/c/c system with ``servers`` and ``offered_load`` erlangs.

    >>> round(erlang_b(2, 1.0), 4)
    0.2
    """
    if servers < 0:
        raise ValueError(f"servers must be >= 0 (got {servers})")
    if offered_load < 0 or math.isnan(offered_load):
        raise ValueError(f"offered_load must be >= 0 (got {offered_load})")
    b = 1.0
    for k in range(1, int(servers) + 1):
        b = offered_load * b / (k + offered_load * b)
    return b


def erlang_b_array(servers: ArrayLike, offered_load: ArrayLike) -> FloatArray:
    """:func:`erlang_b` element-wise over broadcast arrays of servers and loads.

    One pass of the recursion up to the largest server count; each element stops at its own.
    """
    c = np.asarray(servers)
    a = np.asarray(offered_load, dtype=float)
    if c.size and (np.any(c < 0) or np.any(np.asarray(c) != np.floor(c))):
        raise ValueError("servers must be whole numbers >= 0")
    if a.size and (np.any(a < 0) or np.any(np.isnan(a))):
        raise ValueError("offered_load must be >= 0")
    c, a = np.broadcast_arrays(c.astype(np.int64), a)
    b = np.ones(a.shape, dtype=float)
    top = int(c.max()) if c.size else 0
    for k in range(1, top + 1):
        step = a * b / (k + a * b)
        b = np.where(k <= c, step, b)
    return b


def servers_for_blocking(offered_load: float, target: float, max_servers: int = 10_000) -> int:
    """The fewest servers whose Erlang-B blocking is at most ``target``."""
    if not 0 < target <= 1:
        raise ValueError(f"target must be in (0, 1] (got {target})")
    b, k = 1.0, 0
    while b > target:
        k += 1
        if k > max_servers:
            raise ValueError(f"more than {max_servers} servers needed")
        b = offered_load * b / (k + offered_load * b)
    return k


def loss_system(
    servers: int,
    offered_load: float,
    admit: ArrayLike | None = None,
    patience: float = 0.0,
) -> tuple[float, FloatArray]:
    """Share of arrivals lost and the state distribution of a loss system with extensions.

    Time is in units of the mean holding time, so ``offered_load`` is the arrival rate.

    - ``admit[n]``: probability that an arrival finding ``n < servers`` busy is taken (for
      example, only if the child matches one of the homes with a free bed); one not taken is
      lost at once. ``None`` = always.
    - ``patience``: mean time (in holding times, exponential) an arrival finding every server
      busy waits for one before it is lost (Erlang-A); 0 = lost at once.

    The state (busy servers plus waiting arrivals) is a birth-death chain; the lost share is
    ``sum_{n<c} pi(n) (1 - admit[n]) + sum_{n>c} pi(n) (n - c) / (patience * a)``. With neither
    extension it is Erlang-B (exact for any holding distribution); otherwise exact only for
    exponential holding times and patience, and used as an approximation.
    """
    c = int(servers)
    a = float(offered_load)
    if c < 0 or a < 0:
        raise ValueError("servers and offered_load must be >= 0")
    q = np.ones(c, dtype=float) if admit is None else np.asarray(admit, dtype=float)[:c]
    if len(q) < c:
        raise ValueError(f"admit needs {c} probabilities (got {len(q)})")
    gamma = 1.0 / patience if patience > 0 else 0.0
    waiting = 0 if gamma == 0 else int(a * patience + 12 * math.sqrt(a * patience + 1) + 30)
    top = c + waiting
    if a == 0:
        pi = np.zeros(top + 1)
        pi[0] = 1.0
        return 0.0, pi
    # Unnormalised pi(n) in logs, so that large loads do not overflow.
    log_pi = np.zeros(top + 1)
    with np.errstate(divide="ignore"):
        for n in range(top):
            birth = math.log(a) + (float(np.log(q[n])) if n < c else 0.0)
            death = math.log(min(n + 1, c) + max(n + 1 - c, 0) * gamma)
            log_pi[n + 1] = log_pi[n] + birth - death
    finite = np.isfinite(log_pi)
    pi = np.zeros(top + 1)
    pi[finite] = np.exp(log_pi[finite] - log_pi[finite].max())
    pi /= pi.sum()
    lost = float(np.dot(pi[:c], 1.0 - q))
    if gamma > 0:
        extra = np.arange(1, top - c + 1)
        lost += float(np.dot(pi[c + 1 :], extra * gamma)) / a
    else:
        lost += float(pi[c])
    return lost, pi


def overflow_variance(servers: int, offered_load: float, blocking: float | None = None) -> float:
    """Variance of the overflow traffic of an Erlang loss system (Riordan's formula).

    The children turned away from ``servers`` beds, if each then stays elsewhere for a stay of
    the same (exponential) distribution, number ``m = a B`` on average with variance
    ``m (1 - m + a / (c + 1 + m - a))``; its ratio to ``m`` (the peakedness) is above 1: overflow
    comes in bursts, so a Poisson model of the overflow stock understates its tail.
    """
    a = offered_load
    b = erlang_b(servers, a) if blocking is None else blocking
    m = a * b
    if m <= 0:
        return 0.0
    return max(m * (1.0 - m + a / (servers + 1.0 + m - a)), m)


__all__ = [
    "erlang_b",
    "erlang_b_array",
    "loss_system",
    "overflow_variance",
    "servers_for_blocking",
]
