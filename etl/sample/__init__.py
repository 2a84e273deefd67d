"""Seeded sample drops: no real enterprise register can be shipped, so this package makes one.

Two generators, both deterministic (the same seed writes the same bytes), both importable from
``etl.sample`` (the name every ``source.json`` gives as its generator):

* :func:`etl.sample.bundled.write_bundled_drops` writes the 26 quarterly drops 2019Q1–2025Q2
  that ``aidash init`` loads, from a simulated register (``register``) whose city revenue
  follows the reported totals (``calibration``), in the mix of formats real refreshes arrive in
  (``formats``).
* :func:`etl.sample.scale.write_scale_drop` writes one large drop (a million firms in seconds)
  for load tests, over numpy arrays (``credit_codes``, ``byte_rows``).

Both draw firms from ``firms`` (segments, statuses, names) and place them with ``zones``. Every
row says ``provenance = sample`` (``数据性质 = 样例``), and every ``source.json`` says
"SAMPLE DATA — generated, not real".
"""

from etl.sample.bundled import write_bundled_drops
from etl.sample.scale import write_scale_drop

__all__ = ["write_bundled_drops", "write_scale_drop"]
