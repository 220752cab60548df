"""Help text of the command-line tools: every option's default shown, the description's layout kept, no markup."""
from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks (usage examples) and appends "(default: X)" to each option's help.

    Left out where the help already names its default, for flags (a store_true default is always False), and
    for None or empty defaults (their help says what happens without the option).
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text.lower() or not action.option_strings or action.nargs == 0 \
                or action.default is None or action.default is argparse.SUPPRESS \
                or (isinstance(action.default, (str, list, tuple)) and not action.default):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def plain_description(doc: str | None) -> str:
    """A module docstring as an argparse description: reStructuredText ``literals`` shown without the quotes."""
    return (doc or "").replace("``", "")
