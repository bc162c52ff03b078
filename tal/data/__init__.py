"""Data: MNIST files, translated canvases, the synthetic fallback, and user-image preprocessing.

`tal.data.datasets.load_dataset` is the entry point; everything here is NumPy and Pillow only.
"""
