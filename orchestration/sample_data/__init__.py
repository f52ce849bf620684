"""Deterministic sample data: a coffee-and-tea shop in Russia and Kazakhstan, written to the raw contract.

`python -m orchestration.sample_data` (`make sample`) regenerates the bundled sample in
`orchestration/sample_data/raw/`; the same arguments give byte-for-byte the same files. Customers are
generated in chunks with vectorised numpy / Arrow code, so millions of customers fit in bounded memory.

Each customer follows one archetype, a behaviour a marketer recognises (shares of all customers):

- lead (24%): signed up, never bought; the CRM's lead status is new, in work, refused or junk.
- one_time (20%): bought once.
- occasional (14%): buys now and then at no rhythm; a third of them drift away.
- seasonal (10%): buys gifts around 23 February / 8 March and from Black Friday to New Year.
- monthly_regular (8%): buys around the same day each month, skipping a month now and then.
- cycle_30d (8%): coffee on a ~30-day cycle (a bag runs out), the gap varying by a day or two.
- lapsed_big_spender (8%): bought often and big, then stopped more than a year before the end date;
  stopped opening emails soon after.
- unsubscriber (8%): received campaigns, then unsubscribed (an unsubscribe event, email_opt_in
  false); most bought once or a few times.

Around them: cities across eleven time zones (Kaliningrad to Vladivostok, Almaty and Astana in KZT),
Cyrillic and Latin names, phones in several notations, weekly email campaigns whose opens cluster
around each reader's own local hour, all timestamps in UTC. A small share of dirty rows of every
kind the staging quarantines or flags (see dirty.py) is mixed in. `--truth` writes each customer's
archetype to `_truth/customers_archetype.csv`, a folder the landing does not read.
"""

from orchestration.sample_data.archetypes import ARCHETYPE_NAMES, Archetype
from orchestration.sample_data.config import DEFAULT_OUT_DIR, GeneratorConfig
from orchestration.sample_data.generator import GenerationReport, generate

__all__ = [
    "ARCHETYPE_NAMES",
    "DEFAULT_OUT_DIR",
    "Archetype",
    "GenerationReport",
    "GeneratorConfig",
    "generate",
]
