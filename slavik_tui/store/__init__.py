"""The models/ workspace on disk and the SQLite metrics history.

Pure standard library (plus numpy where noted): no torch, no UI. The app lists models and
follows training through this package without paying for `import torch`.
"""
