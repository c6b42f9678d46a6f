"""The "what was wrong?" modal opened after a 👎."""
from __future__ import annotations

REASON_CALLBACK = "feedback_reason"
REASON_BLOCK = "reason"
REASON_ACTION = "reason_text"


def reason_modal(private_metadata: str) -> dict:
    return {
        "type": "modal",
        "callback_id": REASON_CALLBACK,
        "private_metadata": private_metadata,
        "title": {"type": "plain_text", "text": "Feedback"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Skip"},
        "blocks": [{
            "type": "input", "block_id": REASON_BLOCK, "optional": True,
            "label": {"type": "plain_text", "text": "What was wrong with the answer? (optional)"},
            "element": {"type": "plain_text_input", "action_id": REASON_ACTION, "multiline": True, "max_length": 1000},
        }],
    }
