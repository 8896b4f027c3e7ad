"""The redaction gate and the one sink: everything that leaves the process (a file,
the terminal, a log line) passes through here, with the redactor inside.

Below every layer that writes, so none can write around it.
"""
