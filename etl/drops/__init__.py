"""The quarterly drop loader: read → validate → stage → merge → derive, in one transaction.

``load.load_drop`` is the entry point; each step has its module (``read``, ``validate``,
``stage``, ``merge``, ``derive``) and the file and cell rules theirs (``drop_files``,
``workbook_limits``, ``text_rules``).
"""
