"""Tables and pure chain rules: where every report stands, and which moves are allowed.

This package depends on nothing else of ours; everything else depends on it.
"""
