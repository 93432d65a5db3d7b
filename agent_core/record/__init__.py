"""The record the UI reads: the append-only event log (`events`), run directories (`runs`), the
control socket's client side (`control`), the log reducer shared by the CLI and the UI
(`summary`), the JSON-lines reader (`jsonl`), the one redactor the log applies to every
event (`secrets`) and the metric names of `metric` events (`metrics`). Standard library only."""
