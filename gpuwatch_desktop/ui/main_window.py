"""The main window: overview on the left, detail on the right, status bar below."""

from __future__ import annotations

import time
from collections.abc import Sequence

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QSplitter, QTabWidget, QVBoxLayout, QWidget

from gpuwatch_desktop import __version__
from gpuwatch_desktop.services.state import ClusterState
from gpuwatch_desktop.ui.bridge import StateBridge
from gpuwatch_desktop.ui.detail import GpuDetailView
from gpuwatch_desktop.ui.overview import ALL_GPUS, OverviewView
from gpuwatch_desktop.ui.theme import Theme
from gpuwatch_desktop.ui.tray import NotificationBanner


class MainWindow(QMainWindow):
    settingsRequested = Signal(str)  # the settings tab to show first ("" = the first one)
    closing = Signal()

    def __init__(self, state: ClusterState, bridge: StateBridge, theme: Theme, layout_store: QSettings,
                 title_suffix: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._layout_store = layout_store
        self.hides_to_tray = False  # set by the app when a tray exists and the user chose it
        self._reserved: dict[str, QWidget] = {}  # tab title -> the page its view goes into (see reserve_views)
        self._setup_ui(theme, title_suffix)
        bridge.nodesChanged.connect(self._on_nodes_changed)
        bridge.nodesUpdated.connect(self._on_nodes_updated)
        bridge.roundFinished.connect(self._on_round_finished)
        bridge.storageChanged.connect(self._on_storage_changed)
        self._on_nodes_changed()

    def _setup_ui(self, theme: Theme, title_suffix: str) -> None:
        self.setWindowTitle("GPU Watchdog" + (f" — {title_suffix}" if title_suffix else ""))
        self.resize(1440, 900)
        self.overview = OverviewView(theme)
        self.detail = GpuDetailView(theme, self._state.live)
        self.overview.gpuSelected.connect(self._on_gpu_selected)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.overview)
        self.splitter.addWidget(self.detail)
        self.splitter.setSizes([690, 750])
        self.banner = NotificationBanner(theme)
        self.banner.showAlertsClicked.connect(self.show_alerts_tab)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.splitter, "Cluster")
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.banner)
        column.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self._setup_menus()
        self.poll_label, self.round_label, self.nodes_label = QLabel(), QLabel(), QLabel()
        self.storage_label = QLabel()
        self.storage_label.setStyleSheet("color: #f85149")
        for label in (self.storage_label, self.poll_label, self.round_label, self.nodes_label):
            self.statusBar().addPermanentWidget(label)
        self.statusBar().showMessage(f"GPU Watchdog {__version__}")

    def _setup_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        settings = QAction("&Settings…", self)
        settings.setShortcut(QKeySequence.StandardKey.Preferences)
        settings.triggered.connect(lambda: self.settingsRequested.emit(""))
        file_menu.addAction(settings)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.quit_app)
        file_menu.addAction(quit_action)

    def reserve_views(self, titles: Sequence[str]) -> None:
        """Tabs shown with their titles now whose views come later (``add_view``), so the first frame has them all."""
        for title in titles:
            page = QWidget()
            QVBoxLayout(page).setContentsMargins(0, 0, 0, 0)
            self._reserved[title] = page
            self.tabs.addTab(page, title)

    def add_view(self, widget: QWidget, title: str) -> None:
        """A new tab, or the view of a tab reserved under ``title``."""
        page = self._reserved.pop(title, None)
        if page is None:
            self.tabs.addTab(widget, title)
            return
        layout = page.layout()
        assert layout is not None
        layout.addWidget(widget)

    def drop_unfilled_views(self) -> None:
        """Remove the reserved tabs that got no view (Alerts without a history database)."""
        for page in self._reserved.values():
            self.tabs.removeTab(self.tabs.indexOf(page))
            page.deleteLater()
        self._reserved.clear()

    def show_alerts_tab(self) -> None:
        for i in range(self.tabs.count()):
            if self.tabs.tabText(i).startswith("Alerts"):
                self.tabs.setCurrentIndex(i)
        self.bring_to_front()

    def bring_to_front(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def set_alert_count(self, firing: int) -> None:
        for i in range(self.tabs.count()):
            if self.tabs.tabText(i).startswith("Alerts"):
                self.tabs.setTabText(i, f"Alerts ({firing} firing)" if firing else "Alerts")

    def quit_app(self) -> None:
        """Quit for real, even when closing would only hide the window to the tray."""
        self.hides_to_tray = False
        self.close()

    def restore_layout(self) -> None:
        geometry = self._layout_store.value("main/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        splitter = self._layout_store.value("main/splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)
        detail_splitter = self._layout_store.value("detail/splitter")
        if isinstance(detail_splitter, QByteArray):
            self.detail.splitter.restoreState(detail_splitter)
        docks = self._layout_store.value("main/docks")  # where docks (the assistant) are and whether shown
        if isinstance(docks, QByteArray):
            self.restoreState(docks)

    def save_layout(self) -> None:
        self._layout_store.setValue("main/geometry", self.saveGeometry())
        self._layout_store.setValue("main/splitter", self.splitter.saveState())
        self._layout_store.setValue("detail/splitter", self.detail.splitter.saveState())
        self._layout_store.setValue("main/docks", self.saveState())
        self._layout_store.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self.closing.emit()
        event.accept()

    def _on_nodes_changed(self) -> None:
        names = self._state.node_names
        self.overview.set_nodes(names)
        self.overview.show_views(self._state.views())
        if self.detail.node is None and names:
            self._on_gpu_selected(names[0], 0)

    def _on_nodes_updated(self, nodes: list[str]) -> None:
        views = [v for v in (self._state.view(n) for n in nodes) if v is not None]
        self.overview.show_views(views)
        if self.detail.node in nodes:
            self.detail.refresh_live(self._state.view(self.detail.node))

    def _on_gpu_selected(self, node: str, index: int) -> None:
        self.overview.selected = (node, index)
        self.overview.show_views(self._state.views())
        self.detail.show_target(node, None if index == ALL_GPUS else index, self._state.view(node))

    def _on_round_finished(self) -> None:
        info = self._state.last_round
        if info is None:
            return
        self.poll_label.setText(f"last poll {time.strftime('%H:%M:%S', time.localtime(info.finished_at))}")
        self.round_label.setText(f"round {info.duration_ms:.0f} ms")
        self.nodes_label.setText(f"nodes up {info.nodes_up}/{info.nodes_total}")

    def _on_storage_changed(self) -> None:
        error = self._state.storage_error
        self.storage_label.setText(f"History not saved: {error}" if error else "")
        self.storage_label.setToolTip(error or "")
