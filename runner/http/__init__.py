"""The one client: every request segrun sends goes through `client.py`, with its
signing, OAuth, rate budget, deadlines and the server's clock.

Knows specs only as data handed to it; knows nothing of export files or the run's lifecycle.
"""
