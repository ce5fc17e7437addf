"""Opens the Teach dialog and turns its answers into changes of the running station.

Promoting logs the change (:func:`app.core.station_model.record`) and switches the model
through the controller (which saves the setting); rolling back does the same with the model
used before; bins chosen for new classes go into the bins override and the rules reload.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject

from app.core.bin_overrides import BinAssignmentError, assign
from app.core.paths import DataDir
from app.core.station_model import StationError, record, rollback_target
from app.qt.teach_dialog import TeachDialog


class TeachFlow(QObject):
    def __init__(self, *, controller: Any, data: DataDir, store: Any, registry: Any,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._controller, self._data, self._store, self._registry = (
            controller, data, store, registry)
        self.dialog: TeachDialog | None = None
        controller.window.closing.connect(self.shutdown)

    def open(self) -> TeachDialog:
        if self.dialog is not None:
            if self.dialog.isVisible():  # one dialog: two would teach the same name at once
                self.dialog.raise_()
                self.dialog.activateWindow()
                return self.dialog
            self.dialog.deleteLater()  # closed: its worker has finished (reject waits)
        c = self._controller
        reserved = [e.info.id for e in c.entries if e.shipped and e.info is not None]
        dialog = TeachDialog(data=self._data, registry=self._registry, store=self._store,
                             rules=c.session.rules, current_model=c.model_id or c.settings.model_id,
                             reserved=reserved, parent=c.window)
        dialog.promote_requested.connect(self.promote)
        dialog.rollback_requested.connect(self.rollback)
        dialog.bins_chosen.connect(self.set_bins)
        self.dialog = dialog
        dialog.show()
        return dialog

    def shutdown(self) -> None:
        """The window is closing: a teaching thread must not outlive its dialog (Qt aborts
        the process when a running QThread is destroyed), so wait for it and close."""
        if self.dialog is not None:
            self.dialog.reject()

    def promote(self, model_id: str) -> None:
        self._switch(model_id, "promoted")

    def rollback(self) -> None:
        try:
            target = rollback_target(self._data)
        except StationError as exc:
            self._controller.window.show_notice(str(exc), "info")
            return
        self._switch(target, "rollback")

    def _switch(self, model_id: str, why: str) -> None:
        c = self._controller
        before = c.model_id or c.settings.model_id
        try:
            record(self._data, before, model_id, why)
        except StationError as exc:
            c.window.show_notice(str(exc), "error")
            return
        c.workers.inference.request_models()  # the picker lists the new file
        c.apply_settings(dataclasses.replace(c.settings, model_id=model_id))

    def set_bins(self, bins: dict[str, str]) -> None:
        c = self._controller
        s = c.settings
        override = Path(s.bins_file) if s.bins_file else self._data.bins_override
        try:
            assign(override, c.session.rules, bins)
        except BinAssignmentError as exc:
            c.window.show_notice(str(exc), "error")
            return
        c.reload_rules()
