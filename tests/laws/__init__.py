"""The law suite: one registry of type specs (registry.py), the laws parametrized over it."""
