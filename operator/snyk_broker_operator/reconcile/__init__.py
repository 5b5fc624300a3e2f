"""Pure decisions: from what was observed (and the time, passed in) to a plan and a status; no I/O."""
