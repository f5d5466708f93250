"""The results store: experiments' runs and replications in one DuckDB file.

:mod:`simulation.store.results` reads and writes it; :mod:`simulation.store.file` opens,
identifies and checks the file; :mod:`simulation.store.owner` tells whether the process
writing a run still lives.
"""

from simulation.store.file import (
    STORE_VERSION,
    WAIT_ENV,
    StoreDamaged,
    StoreError,
    StoreLocked,
    StoreWriteError,
)
from simulation.store.results import (
    DATA_TABLES,
    DEFAULT_DB,
    KEYS,
    TABLE_OF_BATCH,
    ResultsStore,
    RunRecord,
    config_hash,
    make_run_id,
)

__all__ = [
    "DATA_TABLES",
    "DEFAULT_DB",
    "KEYS",
    "STORE_VERSION",
    "TABLE_OF_BATCH",
    "WAIT_ENV",
    "ResultsStore",
    "RunRecord",
    "StoreDamaged",
    "StoreError",
    "StoreLocked",
    "StoreWriteError",
    "config_hash",
    "make_run_id",
]
