"""The assistant: the LLM agent's loop, its transcript and context summaries, model calls,
usage records and the offline model, in one place.

It has no models of its own: its rows (``TranscriptEntry``, ``LLMCall``, ``ToolCall``) live
in the tools app's tables, where they were created, so that moving the code moved no table,
migration or admin URL. It builds on ``tools`` (the tool platform), ``a2a`` and ``accounts``;
none of them imports it.
"""
