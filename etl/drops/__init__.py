"""The quarterly drop loader: read → validate → stage → merge → derive, in one transaction.

``load.load_drop`` is the entry point; each step has its module (``read``, ``validate``,
``stage``, ``merge``, ``derive``) and the file and cell rules theirs (``drop_files``,
``workbook_limits``, ``text_rules``). Reading is split into ``files`` (find, hash, decode),
``csv_reader``, ``xlsx_reader`` and ``headers`` (the column map, a file's header mapped);
validating into ``convert`` (cell converters), ``schema`` (allowed values, range checks, report
texts), ``lookups`` (what it reads from the database), ``collector`` (the problems found) and
``checks`` (the column checks every kind shares).

Around the steps: ``write`` writes a valid drop (staging in the second thread of
``background``), ``report`` rejects one, ``run_record`` keeps its rows in the history and
``sources`` its source row; ``results`` is what a load returns, ``steps`` its progress bar and
step timings. On SQLite, what was committed before the load is read by ``committed_reader`` (a
process of its own): the register, compared with a resent one by ``committed_register``, and a
revised quarter's other rows (``before_load``); ``code_bytes`` and ``founded_by`` turn credit
codes and founding dates into bytes for the aggregates.
"""
