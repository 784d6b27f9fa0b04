"""The REST API: ML Commons' connectors, models and tasks routes on Flask.

A thin shell around ``common``: it validates, stores and enqueues, and never
loads a provider SDK.
"""
