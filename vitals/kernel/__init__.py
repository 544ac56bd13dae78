"""The foundation every component may import: settings, the store, units, config files, runtime,
and the store's two shared protocols: following a table by id (``follow``) and job leases
(``lease``).

It names no component: what the process is made of is decided by ``vitals.shell``.
"""
