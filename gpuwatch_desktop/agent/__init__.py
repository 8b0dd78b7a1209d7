"""The AI diagnostic agent: read-only tools over the cluster data and a bounded tool-calling loop.

A layer beside ``sources``/``storage``/``alerts``: imports only ``core`` and ``config`` (and openai), never Qt.
"""
