"""Regions as real processes: a durable keyspace of named CRDTs per region (:class:`Region`, over a
:mod:`crdts.store`), replicated over TCP with mutual TLS (:mod:`crdts.net.tls`) or NATS JetStream
(:mod:`crdts.net.jetstream`), with a local HTTP API (:mod:`crdts.net.http`). See docs/deployment.md.
"""

from __future__ import annotations

from .region import Region, RegionLimits

__all__ = ["Region", "RegionLimits"]
