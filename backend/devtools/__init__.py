"""Development tooling that the tests and the benchmark scripts (perf/) share.

* :mod:`devtools.databases` - where a PostgreSQL server comes from (tests and benchmarks
  each have their rule, neither ever uses ``DATABASE_URL``) and throwaway databases on it;
* :mod:`devtools.processes` - child processes as a user runs them from backend/: Python
  commands, a server started and polled until it answers, free ports;
* :mod:`devtools.tcp_proxy` - a TCP proxy that breaks the database on cue.

Never imported by ``app`` or ``scripts``; ``tests`` and ``perf`` import it, and ``perf``
imports nothing from ``tests``.
"""
