"""The foundation every component may import: settings, the store, units, config files, runtime.

It names no component: what the process is made of is decided by ``vitals.shell``.
"""
