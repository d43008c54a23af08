"""Pure risk calculations: numpy arrays in, arrays and dataclasses out.

Vectorised across positions (one column per series) and calculation dates (prefix sums over
the history, app.formulas.windows). No sessions, settings or I/O here:
the services load data, call these functions and persist the results.
"""
