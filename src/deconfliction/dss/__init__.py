"""ASTM F3548-21 discovery and synchronization service (strategic coordination, "SCD").

Cell semantics (S2 level 13), OVN and key rules, subscriptions and notification indices, as the
standard and the InterUSS reference implementation define them. ``api/dss.py`` serves it under
``/dss/v1``.
"""
