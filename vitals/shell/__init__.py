"""The top of Vitals: the ``vitals`` command, the demo, the benchmarks and ``vitals serve``.

The shell assembles the process from the components; no component imports it.
"""
