"""Replication metrics: a plain snapshot (:meth:`Node.metrics`) and a Prometheus text exposition.

``prometheus_text(nodes)`` needs ``prometheus_client`` (``pip install "crdts[metrics]"``); the metric
names are ``crdts_*`` with ``node`` and, per peer, ``peer`` labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["metadata_of", "prometheus_text", "snapshot"]


def metadata_of(node: Any) -> dict[str, int]:
    """The metadata sizes a node knows: its state's (``context`` version vector entries, ``cloud`` scattered
    dots, ``replicas``, ``archives``, and per type ``dots``, ``siblings``...: see ``CRDT.metadata``; and
    ``siblings_dropped`` by a conflict type's bounds), its
    protocol's logs and buffers (``log``, ``log_dropped``...), and, when it holds a retirement registry,
    ``retired_pending`` / ``retired_tombstones`` / ``retired_archives``."""
    out: dict[str, int] = {}
    meta = getattr(node.state, "metadata", None)
    if meta is not None:
        out.update(meta())
    dropped = getattr(node.state, "siblings_dropped", None)
    if dropped is not None:
        out["siblings_dropped"] = dropped
    out.update(node.protocol.log_metadata())
    rt = getattr(node, "retirements", None)
    if rt is not None and hasattr(rt, "metrics"):
        m = rt.metrics()
        out.update({"retired_pending": m["pending"], "retired_tombstones": m["tombstones"],
                    "retired_archives": m["archives"]})
    return out


def snapshot(nodes: Iterable[Any]) -> list[dict[str, Any]]:
    """``node.metrics()`` for every node."""
    return [n.metrics() for n in nodes]


def prometheus_text(nodes: Iterable[Any]) -> str:
    """The nodes' metrics in the Prometheus text format (via prometheus_client's own exposition)."""
    try:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('Prometheus exposition needs prometheus_client: pip install "crdts[metrics]"') from exc

    snaps = snapshot(nodes)

    class _Collector:
        def collect(self) -> Iterator[Any]:
            node_gauges = {
                "state_units": ("crdts_state_units", "Join-irreducibles held in the replica's state"),
                "buffer_units": ("crdts_buffer_units", "Join-irreducibles held in protocol buffers and logs"),
            }
            node_counters = {
                "conflicts": ("crdts_conflicts", "Conflicts (concurrent siblings) seen on merge"),
                "rejected": ("crdts_rejected_messages", "Malformed or refused messages"),
            }
            for field, (name, doc) in node_gauges.items():
                g = GaugeMetricFamily(name, doc, labels=["node", "protocol"])
                for s in snaps:
                    g.add_metric([s["node"], s["protocol"]], float(s[field]))
                yield g
            for field, (name, doc) in node_counters.items():
                c = CounterMetricFamily(name, doc, labels=["node", "protocol"])
                for s in snaps:
                    c.add_metric([s["node"], s["protocol"]], float(s[field]))
                yield c
            meta = GaugeMetricFamily("crdts_metadata", "Metadata held by the node, by part (metrics()['metadata'])",
                                     labels=["node", "part"])
            for s in snaps:
                for part, n in sorted(s.get("metadata", {}).items()):
                    meta.add_metric([s["node"], part], float(n))
            yield meta
            peer_gauges = {
                "lag_seconds": ("crdts_replication_lag_seconds", "Age of the oldest write the peer lacks"),
                "lag_ops": ("crdts_replication_lag_ops", "Writes the peer has not acknowledged"),
            }
            peer_counters = {
                "messages_sent": ("crdts_peer_messages_sent", "Messages sent to the peer"),
                "bytes_sent": ("crdts_peer_bytes_sent", "Bytes sent to the peer"),
                "messages_received": ("crdts_peer_messages_received", "Messages received from the peer"),
                "bytes_received": ("crdts_peer_bytes_received", "Bytes received from the peer"),
                "full_states_sent": ("crdts_full_state_fallbacks", "Full states sent to the peer"),
            }
            for field, (name, doc) in peer_gauges.items():
                g = GaugeMetricFamily(name, doc, labels=["node", "peer"])
                for s in snaps:
                    for peer, p in s["peers"].items():
                        if p[field] is not None:
                            g.add_metric([s["node"], peer], float(p[field]))
                yield g
            for field, (name, doc) in peer_counters.items():
                c = CounterMetricFamily(name, doc, labels=["node", "peer"])
                for s in snaps:
                    for peer, p in s["peers"].items():
                        c.add_metric([s["node"], peer], float(p[field]))
                yield c

    reg = CollectorRegistry()
    reg.register(_Collector())
    return generate_latest(reg).decode()
