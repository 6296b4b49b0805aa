"""The Qt layer of NDE Studio: the only package that imports PySide6, pyqtgraph or qasync."""
