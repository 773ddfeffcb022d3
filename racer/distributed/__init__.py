"""racer past one machine, on Ray: sweeps (``racer sweep``) and leaderboard evaluation
(``racer leaderboard run --ray``).

Ray is an extra (``pip install 'racer[ray]'``) imported only here, and only when a command asks
for it: :mod:`racer.distributed.cluster` joins or starts Ray, :mod:`racer.distributed.leaderboard`
fans bundle evaluations out as tasks and records them with one writer,
:mod:`racer.distributed.sweep` runs many trainings under Ray Tune and ranks them by the
leaderboard's rule. Importing this package imports none of them.
"""

from __future__ import annotations
