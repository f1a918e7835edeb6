"""Block Kit for issue 12's messages: an action's effect check (with **Roll back**)
and an emergency drain's count (with **Re-analyse**). Pure functions of domain values,
kept within Slack's limits by :mod:`bot.adapters.slack.blocks`' helpers."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.adapters.slack.blocks import Block, Payload, button, context, payload, section
from bot.adapters.slack.ids import ActionId, BlockId
from bot.domain.effect_text import describe
from bot.domain.effects import Judgement
from bot.domain.models import ActionRequest
from bot.domain.recovery import Recovery, RecoveryState, count_text
from bot.domain.report import format_duration


def effect_payload(
    request: ActionRequest,
    judgement: Judgement,
    *,
    watch_until: datetime | None,
    window_seconds: float,
    can_roll_back: bool,
) -> Payload:
    """The effect check in the action's thread, edited as data arrives; **Roll back**
    (its value: the action's request id) when the bot kept what the action changed."""
    lines = describe(judgement)
    verdict = judgement.verdict.value if judgement.verdict else "watching"
    blocks: list[Block] = [
        section(f"*Effect check* · {request.summary}"),
        section("\n".join(lines)),
    ]
    if judgement.final:
        note = "Final verdict."
    elif watch_until is not None:
        window = format_duration_seconds(window_seconds)
        note = (
            f"Watching until {watch_until:%H:%M} UTC (verification window {window}); "
            "updated as samples arrive."
        )
    else:
        note = ""
    if note:
        blocks.append(context(note))
    if can_roll_back:
        blocks.append(
            {
                "type": "actions",
                "block_id": BlockId.EFFECT_BUTTONS.value,
                "elements": [button("Roll back", ActionId.ROLL_BACK, str(request.id), "danger")],
            }
        )
    return payload(f"Effect of {request.summary}: {verdict}", blocks)


def recovery_payload(recovery: Recovery, *, reanalyse_to: str | None) -> Payload:
    """A drain's count (processed vs snapshotted) and, once the backlog is over,
    **Re-analyse** (its value: the drain request's id)."""
    count = recovery.count
    if count is None:
        text = f"The drain `{recovery.job}` has not been counted yet."
        return payload(text, [section(text)])
    text = count_text(recovery.job, recovery.queue, count, bool(recovery.succeeded))
    blocks: list[Block] = [section(text)]
    state = recovery.state
    if count.taken == 0:
        pass
    elif reanalyse_to is None:
        blocks.append(context("No analysis queue is named in the playbook, so no re-analysis."))
    elif state is RecoveryState.COUNTED:
        blocks.append(
            context(
                f"*Re-analyse* will be offered once the backlog is over (`{recovery.queue}` "
                f"back under its alert line, or the incident resolved): the {count.taken:,} "
                f"emails go onto `{reanalyse_to}` for full analysis."
            )
        )
    elif state is RecoveryState.OFFERED:
        left = count.taken - recovery.pushed
        blocks.append(
            context(
                f"The backlog is over: push the {left:,} emails the drain skimmed onto "
                f"`{reanalyse_to}` for full analysis (an approved action, at the playbook's "
                f"pace). Kept until {recovery.expires_at:%Y-%m-%d %H:%M} UTC."
            )
        )
        blocks.append(
            {
                "type": "actions",
                "block_id": BlockId.DRAIN_RECOVERY_BUTTONS.value,
                "elements": [
                    button("Re-analyse", ActionId.REANALYSE, str(recovery.request_id), "primary")
                ],
            }
        )
    elif state is RecoveryState.REANALYSED:
        blocks.append(
            context(f":white_check_mark: All {recovery.pushed:,} went back onto `{reanalyse_to}`.")
        )
    elif state is RecoveryState.EXPIRED:
        blocks.append(
            context(
                f":hourglass: The recovery list expired at {recovery.expires_at:%Y-%m-%d %H:%M} "
                f"UTC; {count.taken - recovery.pushed:,} were never re-analysed."
            )
        )
    return payload(text.split("\n", 1)[0].replace("*", ""), blocks)


def format_duration_seconds(seconds: float) -> str:
    return format_duration(timedelta(seconds=seconds))
