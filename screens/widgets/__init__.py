"""Widgets of the run screen: status line, transcript, loss chart, host pane."""

from screens.widgets.chart import LossChart
from screens.widgets.host import HostPane
from screens.widgets.status import StatusInfo, StatusLine
from screens.widgets.transcript import Transcript

__all__ = ["HostPane", "LossChart", "StatusInfo", "StatusLine", "Transcript"]
