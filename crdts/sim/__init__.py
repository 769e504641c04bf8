"""A deterministic discrete-event network simulator for the sync protocols (the engine of ``crdts simulate``)."""

from .engine import Crash, Partition, Result, Scenario, Simulation, simulate
from .topology import TOPOLOGIES, build_topology, diameter, edges
from .workloads import WORKLOADS, Workload, make_workload

__all__ = [
    "TOPOLOGIES",
    "WORKLOADS",
    "Crash",
    "Partition",
    "Result",
    "Scenario",
    "Simulation",
    "Workload",
    "build_topology",
    "diameter",
    "edges",
    "make_workload",
    "simulate",
]
