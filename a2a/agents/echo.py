"""The echo agent: answers with an artifact that repeats the input, one chunk per word.

It exists so the whole path (persist, job, events, streams) can be exercised without a model.
``WEBCAP_ECHO_DELAY_MS`` pauses before each chunk, which makes cancels and disconnects
testable.
"""

from __future__ import annotations

import time

from django.conf import settings

from a2a.agents.base import Agent, TaskRun

ARTIFACT_ID = "echo"


class EchoAgent(Agent):
    name = "echo"
    description = "Repeats the text of your message back as a streamed artifact."
    skills = [
        {
            "id": "echo",
            "name": "Echo",
            "description": "Streams the words of the message back, one artifact chunk per word.",
            "tags": ["echo", "test"],
            "examples": ["hello world"],
        }
    ]

    def run(self, run: TaskRun) -> None:
        run.working()
        words = run.user_text().split()
        if not words:
            run.complete("There was no text to echo.")
            return
        delay = settings.WEBCAP_ECHO_DELAY_MS / 1000
        for index, word in enumerate(words):
            if delay:
                time.sleep(delay)
            run.artifact(
                artifact_id=ARTIFACT_ID,
                name="echo",
                parts=[{"text": word if index == 0 else f" {word}"}],
                append=index > 0,
                last_chunk=index == len(words) - 1,
            )
        run.complete()
