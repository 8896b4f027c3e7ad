"""Write a whole file or nothing: a report half-written by a crash would make
`--resume` or a CI server misread the run. (The operation lives in
runner/system/durable.py with the run's other durable steps.)"""

from runner.system.durable import write_atomic

__all__ = ["write_atomic"]
