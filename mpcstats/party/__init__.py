"""The party daemon (``mpcstats party serve``): configuration, the audit log and the service.

:mod:`.config` reads a party's configuration; :mod:`.audit` is its hash-chained audit log;
:mod:`.daemon` serves analyses to the analysts the configuration names. ``import mpcstats``
does not load this package: an analyst's notebook needs none of it.
"""
