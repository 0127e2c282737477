"""Quarterly probability reports: stats -> tables -> prose -> template.

:mod:`forecast.report.context` builds the report's data from a run (pure),
:mod:`forecast.report.prose` turns numbers into sentences, :mod:`forecast.report.render` fills the
HTML and Markdown templates; :mod:`forecast.io.reports` writes ``reports/<quarter>/``.
"""
