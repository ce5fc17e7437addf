"""Waste Sorter: classify waste items from a camera or images, and keep a history."""

__version__ = "0.1.0"
