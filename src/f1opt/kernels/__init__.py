"""Pure numeric kernels of the exact F-beta searches: arrays in, arrays out.

No validation, no engine choice, no deciders. The modules:

- :mod:`f1opt.kernels.cuts`: cut candidates, the best cut, Dinkelbach's method,
  the grouped sweep (global macro / weighted / samples, fold means), F-beta curves;
- :mod:`f1opt.kernels.buckets`: counting passes on order-preserving float32 keys,
  pruning, and the exact solve of the gathered buckets;
- :mod:`f1opt.kernels.compiled`: numba versions of the counting passes and of the
  passes over sparse scores;
- :mod:`f1opt.kernels.dask`: the map/reduce of counts and gathered scores on Dask
  collections (returns counts or candidates);
- :mod:`f1opt.kernels.sparse`: cut searches on scipy.sparse scores, walked in their
  compressed layout (no array of one integer per stored entry).

The choice among them, and their settings, live in :mod:`f1opt._engine`.
"""
