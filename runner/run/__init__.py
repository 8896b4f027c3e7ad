"""Executing a plan: a job's durable steps (`lifecycle.py`), pages in flight,
the ProfileId table, export writers, checkpoints and watermarks.
"""
