"""`python app.py gorgias status|retry`: what the inbox holds, and requeueing parked events."""
from __future__ import annotations

from gorgias.inbox import Inbox


def gorgias_cli(db, args) -> int:
    """`args.action` is retry or status; `db` is the composition root's pool (closed by it)."""
    inbox = Inbox(db)
    if args.action == "retry":
        ids = inbox.requeue_parked()
        if ids:
            print(f"requeued {len(ids)} parked event(s): {', '.join(map(str, ids[:20]))}"
                  + (" …" if len(ids) > 20 else ""))
            print("the running server's worker posts them within a second (or on its next start)")
        else:
            print("no parked events")
        return 0
    counts = inbox.status_counts()
    if not counts:
        print("the Gorgias inbox is empty (no webhook received yet)")
        return 0
    print(f"{'status':<12}{'events':>8}{'duplicates':>12}  newest")
    for row in counts:
        print(f"{row['status']:<12}{row['events']:>8}{row['duplicates'] or 0:>12}  {row['newest']:%Y-%m-%d %H:%M:%S}")
    reasons = inbox.skip_reasons()
    if reasons:
        print("\nskipped, by reason:")
        for row in reasons:
            print(f"  {row['events']:>6}  {row['skip_reason']}")
    parked = inbox.parked()
    if parked:
        print("\nparked (requeue with `python app.py gorgias retry`):")
        for row in parked:
            print(f"  event {row['event_id']} ticket {row['ticket_id']} message {row['message_id']} "
                  f"after {row['attempts']} attempt(s): {row['last_error']}")
    return 0
