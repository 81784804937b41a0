"""Defaults of the flow statistics, each with its reason. Light on purpose: the CLI reads it at start-up."""

from __future__ import annotations

# A statistic below this many moves is suppressed unless a publisher sets its
# own k. The threshold rule of official statistics: "some agencies require at
# least five respondents in a cell, others require three" (OECD Glossary of
# Statistical Terms, "threshold rule", from the UNECE/Eurostat Glossary of
# Statistical Disclosure Control, 2005). Five is the stricter of the two
# common choices; see docs/flowstats.md.
DEFAULT_K = 5
# A threshold of 1 would suppress nothing.
MIN_K = 2
# Registries record most registrations within days of them; a week after the
# month's end is when a monthly figure is expected to be complete.
DEFAULT_GRACE = "7d"
# Provisional figures are for watching a month fill up: a minute keeps them current
# without republishing every cell on every move. (With differential privacy each
# release spends budget, and the window budget caps their number anyway.)
DEFAULT_PROVISIONAL_INTERVAL = "1m"
