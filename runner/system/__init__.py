"""The operating system as segrun uses it: durable writes (write aside, fsync,
rename, fsync the folder), the allocator's settings, the bounds a number must keep for
the machine's arithmetic (`numbers.py`) and strict JSON for the files segrun writes and
reads back (`strict_json.py`).

Knows nothing of specs, HTTP or exports.
"""
