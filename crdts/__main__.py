"""``python -m crdts``: with no arguments, a short tour (three regions diverge under a partition, exchange
deltas as bytes through the codec, and converge; the conflicts are shown, not lost). With arguments, the
``crdts`` command: ``python -m crdts --help``, ``python -m crdts simulate`` and so on."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from . import AWSet, MVRegister, ORMap, PNCounter


def _ship(delta: Any) -> Any:
    """Send a delta over the 'network': through the canonical codec if it is there."""
    from . import codec

    return codec.decode(codec.encode(delta))


def tour(out: TextIO | None = None) -> int:
    """The tour, printed to ``out`` (default stdout). Returns 0 when the regions converged."""
    w = out or sys.stdout
    say = lambda *a: print(*a, file=w)  # noqa: E731
    regions = ["eu-west", "us-east", "ap-south"]
    carts = {r: ORMap(replica=r) for r in regions}
    profiles = {r: MVRegister(replica=r) for r in regions}
    tags = {r: AWSet(replica=r) for r in regions}
    inbox: dict[str, list[tuple[str, Any]]] = {r: [] for r in regions}
    by_kind: dict[str, dict[str, Any]] = {"cart": carts, "profile": profiles, "tags": tags}

    def publish(src: str, kind: str, delta: Any) -> None:
        for r in regions:
            if r != src:
                inbox[r].append((kind, _ship(delta)))

    say("Partition: every region writes on its own.")
    publish("eu-west", "cart", carts["eu-west"].update("apples", PNCounter, lambda c: c.increment(3)))
    publish("us-east", "cart", carts["us-east"].update("apples", PNCounter, lambda c: c.increment(2)))
    publish("ap-south", "cart", carts["ap-south"].update("pears", PNCounter, lambda c: c.increment(1)))
    publish("eu-west", "profile", profiles["eu-west"].assign({"name": "Ada", "city": "Dublin"}))
    publish("us-east", "profile", profiles["us-east"].assign({"name": "Ada", "city": "Boston"}))
    publish("eu-west", "tags", tags["eu-west"].add("vip"))
    for r in regions:
        say(f"  {r:9} cart={carts[r].value} tags={sorted(tags[r].value)} profile={profiles[r].values}")

    say("Heal: every region merges what the others sent.")
    for r in regions:
        for kind, d in inbox[r]:
            by_kind[kind][r].merge(d)
        inbox[r].clear()
    for r in regions:
        say(f"  {r:9} cart={carts[r].value} tags={sorted(tags[r].value)}")
    say(f"  conflict kept, not lost: profile siblings = {profiles['ap-south'].values}")
    resolved = profiles["ap-south"].assign({"name": "Ada", "city": "Boston"})
    for r in regions:
        profiles[r].merge(_ship(resolved))
    same = all(carts[r] == carts[regions[0]] and profiles[r] == profiles[regions[0]] and tags[r] == tags[regions[0]]
               for r in regions)
    say(f"  after ap-south resolves: profile = {profiles['eu-west'].values}")
    say(f"Converged: {same}")
    return 0 if same else 1


def main(argv: Sequence[str] | None = None) -> int:
    """The tour when there are no arguments, else the ``crdts`` command with them. Returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        try:
            return tour()
        except BrokenPipeError:  # python -m crdts | head
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            return 0
    from .cli import main as command

    return command(args)


if __name__ == "__main__":
    raise SystemExit(main())
