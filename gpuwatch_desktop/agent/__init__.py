"""The AI diagnostic agent: read-only tools over the cluster data and a bounded tool-calling loop.

A layer beside ``sources``/``storage``/``alerts``: imports only ``core`` and ``config`` (and openai), never Qt.

Parts: ``loop`` (AgentSession: streamed steps, forced final answer, errors as outcomes), ``calls`` (running
tool calls concurrently, cached, approval for mutating tools), ``tools``/``tools_history``/``tools_external``
(the tools), ``toolkit`` (schemas derived from signatures), ``budget`` and ``context`` (fitting output and
requests), ``client`` (the openai client, Test connection, local auto-detect, error messages), ``data`` (the
``ClusterData`` protocol the tools read; ``services.agent_data`` implements it), ``events`` (what a run reports).
"""
