"""A deterministic discrete-event network simulator for the sync protocols (the engine of ``crdts simulate``).

:mod:`~crdts.sim.engine` runs one protocol on one :class:`Scenario`; :mod:`~crdts.sim.runs` builds
scenarios from parameters and runs every protocol on the same one; :mod:`~crdts.sim.presets` holds the
region names, latency presets and default partition; :mod:`~crdts.sim.plot` draws the runs.
"""

from .engine import Crash, Partition, Result, Scenario, Simulation, last_write_ms, simulate
from .plot import MissingExtra, plot_runs, plot_series
from .presets import LATENCY_PRESETS, SITES, continents_latency, default_partition, parse_latency, region_names
from .runs import Run, bound_faults, build_scenario, partition_spec, protocol_names, run_protocols, select_protocols
from .topology import TOPOLOGIES, build_topology, diameter, edges
from .workloads import WORKLOADS, Workload, make_workload

__all__ = [
    "LATENCY_PRESETS",
    "SITES",
    "TOPOLOGIES",
    "WORKLOADS",
    "Crash",
    "MissingExtra",
    "Partition",
    "Result",
    "Run",
    "Scenario",
    "Simulation",
    "Workload",
    "bound_faults",
    "build_scenario",
    "build_topology",
    "continents_latency",
    "default_partition",
    "diameter",
    "edges",
    "last_write_ms",
    "make_workload",
    "parse_latency",
    "partition_spec",
    "plot_runs",
    "plot_series",
    "protocol_names",
    "region_names",
    "run_protocols",
    "select_protocols",
    "simulate",
]
