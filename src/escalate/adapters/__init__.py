"""Adapters: ready implementations of escalate's ports (one per module).

They import the core; the core never imports them.
"""
