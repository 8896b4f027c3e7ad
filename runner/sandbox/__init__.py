"""A local simulator of the MyPreferences segment-group export API.

with running_sandbox(profiles=1000, seed=7) as sb:
    requests.post(sb.base_url + "Async/SanchezAssociates/Export/Segment/All%20Profiles", ...)
"""

from runner.sandbox.datafile import SandboxData, SandboxDataError, SegmentGroup, load_data
from runner.sandbox.demo import DEMO, DemoAccount
from runner.sandbox.faults import FaultPlan, Faults, FaultSyntaxError
from runner.sandbox.sandbox import Sandbox, running_sandbox

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
