"""Imported by the extraction pool's fork server only (a preload module, see
`monitor.run.process.PRELOAD`): the fork server ends when the run that started it dies."""

from __future__ import annotations

from monitor.run.orphans import named_parent, watch_parent

_parent = named_parent()
if _parent is not None:
    watch_parent(_parent)
