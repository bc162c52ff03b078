"""The model core: attention layers, the catalogue that declares them, configs, models, losses.

Nothing here imports Streamlit; `catalogue` and `config` do not import Keras either.
"""
