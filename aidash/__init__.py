"""The ``aidash`` command: the one layer that sees both the writers (``etl``) and the readers
(``app``). It only puts their commands together; nothing in the project imports it."""
