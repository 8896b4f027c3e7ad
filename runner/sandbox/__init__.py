"""A local simulator of the MyPreferences segment-group export API.

with running_sandbox(profiles=1000, seed=7) as sb:
    requests.post(sb.base_url + "Async/SanchezAssociates/Export/Segment/All%20Profiles", ...)
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the names are; at run time `__getattr__` imports them on first use
    from runner.sandbox.datafile import SandboxData, SandboxDataError, SegmentGroup, load_data
    from runner.sandbox.demo import DEMO, DemoAccount
    from runner.sandbox.faults import FaultPlan, Faults, FaultSyntaxError
    from runner.sandbox.sandbox import Sandbox, running_sandbox

#: each name and the module that defines it, imported on first use: `segrun
#: validate` of a sandbox data file needs datafile.py, not the server
_HOMES = {
    "SandboxData": "datafile",
    "SandboxDataError": "datafile",
    "SegmentGroup": "datafile",
    "load_data": "datafile",
    "DEMO": "demo",
    "DemoAccount": "demo",
    "FaultPlan": "faults",
    "FaultSyntaxError": "faults",
    "Faults": "faults",
    "Sandbox": "sandbox",
    "running_sandbox": "sandbox",
}

__all__ = [
    "DEMO",
    "DemoAccount",
    "FaultPlan",
    "FaultSyntaxError",
    "Faults",
    "Sandbox",
    "SandboxData",
    "SandboxDataError",
    "SegmentGroup",
    "load_data",
    "running_sandbox",
]


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
