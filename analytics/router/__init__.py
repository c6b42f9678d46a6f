"""The question router (see router.py) and what it hands back (answer.py)."""
from analytics.router.answer import Answer, Clarification, RouteDecision, ToolCall, Usage
from analytics.router.router import Router

__all__ = ["Router", "Answer", "RouteDecision", "ToolCall", "Clarification", "Usage"]
