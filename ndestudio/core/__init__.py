"""The Qt-free core of NDE Studio: specs, models, the solver layer, data, training.

Importing this package (or any module below it) never imports PySide6, pyqtgraph or qasync.
"""
