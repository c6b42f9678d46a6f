"""The question router: a question (and its thread) in, an Answer out. Claude tool use when a
Claude client is given, the deterministic offline router otherwise or when the API fails. Slack,
the console and `app.py route/ask/chat` all come through `Router`."""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from analytics.router import safety
from analytics.router.answer import Answer, Clarification, RouteDecision, ToolCall
from analytics.router.memory import ThreadMemory
from analytics.router.offline import OfflineRouter
from analytics.router.slots import Vocabulary
from analytics.router.vocabulary import VocabularyCache
from analytics.core import ToolContext, ToolError
from analytics.tools.registry import run_tool, validate_arguments
from observability import metrics

if TYPE_CHECKING:  # the SDK is imported only when a key is set: it costs seconds
    import anthropic

log = logging.getLogger(__name__)

OFFLINE_NOTE = "(Answered by the offline router.)"

class Router:
    """`route()` decides without running anything; `answer()` runs the tools and writes the reply.

    `client` is the process's Claude client (None: offline only), built by the composition root;
    `vocabulary` fixes the offline router's names (tests), otherwise they come from the database.
    """

    def __init__(self, ctx: ToolContext, *, client: anthropic.Anthropic | None = None, model: str | None = None,
                 memory: ThreadMemory | None = None, vocabulary: Vocabulary | None = None) -> None:
        self.ctx = ctx
        self.client = client
        self.model = model or ctx.settings.anthropic_model
        self.memory = memory or ThreadMemory(ctx.db)
        self._fixed_vocabulary = vocabulary
        self._vocabulary_cache = None if vocabulary is not None else VocabularyCache(ctx.db)
        self._offline: tuple[Vocabulary, OfflineRouter] | None = None

    # -- offline router with the store's current names ---------------------------------------------

    def offline(self) -> OfflineRouter:
        vocabulary = self._fixed_vocabulary or self._vocabulary_cache.get()  # type: ignore[union-attr]
        if self._offline is None or self._offline[0] is not vocabulary:
            self._offline = (vocabulary, OfflineRouter(vocabulary))
        return self._offline[1]

    # -- route: decide only -------------------------------------------------------------------------

    def route(self, question: str, thread_key: str | None = None) -> RouteDecision:
        refusal = safety.refusal_for(question)
        if refusal:
            return RouteDecision(refusal=refusal)
        summary, turns = self._history(thread_key)
        if self.client is not None:
            from analytics.router import claude as claude_loop

            try:
                started = time.perf_counter()
                messages = claude_loop.history_messages(summary, turns, question)
                tool, arguments, text, usage = claude_loop.first_tool_call(self.client, self.model, messages)
                # Routing with Claude costs tokens too: record them like an answer's.
                self._record(Answer(text=text, source="claude", usage=usage), thread_key, None, started,
                             outcome="route")
                if tool is None:
                    return RouteDecision(clarification=Clarification(question=text or "Could you rephrase that?"),
                                         source="claude")
                params = validate_arguments(tool, arguments)
                return RouteDecision(tool=tool, arguments=params.model_dump(mode="json", exclude_unset=True),
                                     source="claude")
            except claude_loop.ClaudeUnavailable as exc:
                log.warning("routing offline: %s", exc.reason)
            except ToolError as exc:
                log.warning("Claude proposed invalid arguments (%s); routing offline", exc)
        return self.offline().route(question, turns)

    # -- answer: decide, run, reply, remember -------------------------------------------------------

    def answer(self, question: str, thread_key: str | None = None, user: str | None = None) -> Answer:
        started = time.perf_counter()
        refusal = safety.refusal_for(question)
        if refusal:
            answer = Answer(text=refusal, refusal=refusal, source="offline")
            self._record(answer, thread_key, user, started, outcome="refusal")
            return answer

        summary, turns = self._history(thread_key)
        fallback_reason = None
        if self.client is not None:
            from analytics.router import claude as claude_loop

            try:
                answer = self._answer_with_claude(question, summary, turns)
            except claude_loop.ClaudeUnavailable as exc:
                log.warning("answering offline: %s", exc.reason)
                fallback_reason = exc.reason
            else:
                self._remember(thread_key, question, answer)
                self._record(answer, thread_key, user, started, outcome="answer")
                return answer

        answer = self._answer_offline(question, turns, fallback_reason)
        self._remember(thread_key, question, answer)
        outcome = "refusal" if answer.refusal else "clarification" if answer.clarification else (
            "error" if any(c.error for c in answer.tool_calls) else "answer")
        self._record(answer, thread_key, user, started, outcome=outcome)
        return answer

    def _answer_with_claude(self, question: str, summary: str, turns: list[dict[str, Any]]) -> Answer:
        from analytics.router import claude as claude_loop

        messages = claude_loop.history_messages(summary, turns, question)
        result = claude_loop.run_tool_loop(self.client, self.model, self.ctx, messages)
        return Answer(text=result.text, tool_calls=result.tool_calls, source="claude", usage=result.usage)

    def _answer_offline(self, question: str, turns: list[dict[str, Any]], fallback_reason: str | None) -> Answer:
        note = OFFLINE_NOTE if fallback_reason is None else (
            f"(Claude was unavailable: {fallback_reason}. Answered by the offline router.)")
        decision = self.offline().route(question, turns)
        if decision.refusal:
            return Answer(text=decision.refusal, refusal=decision.refusal, source="offline",
                          fallback_reason=fallback_reason)
        if decision.clarification:
            lines = [decision.clarification.question]
            lines += [f"{i}. {option}" for i, option in enumerate(decision.clarification.options, start=1)]
            return Answer(text="\n".join(lines) + "\n" + note, clarification=decision.clarification,
                          source="offline", fallback_reason=fallback_reason, option_calls=decision.option_calls)
        assert decision.tool is not None
        try:
            result = run_tool(self.ctx, decision.tool, decision.arguments)
        except ToolError as exc:
            call = ToolCall(tool=decision.tool, arguments=decision.arguments, error=str(exc))
            return Answer(text=f"{exc}\n{note}", tool_calls=[call], source="offline", fallback_reason=fallback_reason)
        except Exception:  # noqa: BLE001 - logged with context; the user gets a plain sentence
            log.exception("tool %s failed with arguments %s", decision.tool, decision.arguments)
            message = f"Sorry, the {decision.tool} tool failed unexpectedly; the error was logged."
            call = ToolCall(tool=decision.tool, arguments=decision.arguments, error=message)
            return Answer(text=f"{message}\n{note}", tool_calls=[call], source="offline", fallback_reason=fallback_reason)
        call = ToolCall(tool=decision.tool, arguments=decision.arguments, result=result)
        return Answer(text=f"{safety.scrub(result.summary)}\n{note}", tool_calls=[call], source="offline",
                      fallback_reason=fallback_reason)

    # -- thread history ----------------------------------------------------------------------------------

    def _history(self, thread_key: str | None) -> tuple[str, list[dict[str, Any]]]:
        """The thread so far; if it cannot be read the question is answered on its own."""
        try:
            return self.memory.load(thread_key)
        except Exception:  # noqa: BLE001 - logged with context; the answer still goes out
            log.exception("could not read thread %s", thread_key)
            return "", []

    # -- bookkeeping (writes) --------------------------------------------------------------------------

    def _remember(self, thread_key: str | None, question: str, answer: Answer) -> None:
        if not thread_key or answer.refusal:
            return
        try:
            self.memory.append(
                thread_key, question=question, answer=answer.text, source=answer.source,
                tool_calls=[c.model_dump(mode="json") for c in answer.tool_calls],
                option_calls=answer.option_calls,
            )
        except Exception:  # noqa: BLE001 - the answer still goes out; the next turn lacks context
            log.exception("could not store turn of thread %s", thread_key)

    def _record(self, answer: Answer, thread_key: str | None, user: str | None, started: float, *, outcome: str) -> None:
        usage = answer.usage
        path = "claude" if answer.source == "claude" else "fallback" if answer.fallback_reason else "offline"
        metrics.ROUTER_ANSWERS.labels(path, outcome).inc()
        for kind, tokens in (("input", usage.input_tokens), ("output", usage.output_tokens),
                             ("cache_creation", usage.cache_creation_input_tokens),
                             ("cache_read", usage.cache_read_input_tokens)):
            if tokens:
                metrics.CLAUDE_TOKENS.labels(kind).inc(tokens)
        self.memory.record_usage(
            thread_key=thread_key, user_id=user, source=answer.source,
            model=self.model if answer.source == "claude" else None, rounds=usage.rounds,
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens,
            cache_read_input_tokens=usage.cache_read_input_tokens,
            tools=[c.tool for c in answer.tool_calls], outcome=outcome, fallback_reason=answer.fallback_reason,
            latency_ms=int((time.perf_counter() - started) * 1000),
        )
