""""Export CSV": re-runs the list's tool call and uploads the rows as a CSV file in the thread.
A customer list exports everyone matching its filters, not the page shown (analyze_customers'
own `export_rows`, capped with a note).
A campaign's own export (the whole selection, for the store's marketing tool) holds contact
details, so Slack gets it without them: customers by C-XXXXXXXX id, as everywhere in chat."""
from __future__ import annotations

import logging

from analytics.core import ToolError
from bot.access import is_allowed, not_enabled_message
from bot.delivery import replace_with_error
from bot.listeners.actions.common import message_location
from bot.views.answer import EXPORT_CSV, parse_tool_call_value
from bot.views.export import export_csv

log = logging.getLogger(__name__)


def register(app, deps) -> None:
    def ack_action(ack):
        ack()

    def export(body, action, client):
        channel, thread_ts = message_location(body)
        user = (body.get("user") or {}).get("id")
        if not is_allowed(deps.settings, channel, user):
            client.chat_postEphemeral(channel=channel, user=user, text=not_enabled_message(channel))
            return
        try:
            tool, arguments = parse_tool_call_value(action["value"])
            result = deps.run_tool(tool, arguments)
            content, note = export_csv(deps.ctx, tool, arguments, result)
            comment = f"<@{user}> here is the CSV." + (f" {note}" if note else "")
            client.files_upload_v2(channel=channel, thread_ts=thread_ts, content=content,
                                   filename=f"{tool}.csv", title=f"{tool.replace('_', ' ')} export",
                                   initial_comment=comment)
        except ToolError as exc:
            # Something the user can act on (a segment gone from the newer run, no run yet): say it.
            replace_with_error(client, channel, None, thread_ts, f"The export could not run: {exc}")
        except Exception:
            log.exception("CSV export failed for %r", action.get("value"))
            replace_with_error(client, channel, None, thread_ts, "Sorry, the export failed (the error is logged).")

    app.action(EXPORT_CSV)(ack=ack_action, lazy=[deps.limited(export)])
