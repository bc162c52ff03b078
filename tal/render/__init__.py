"""Figures and pictures for maps, probabilities and curves (Plotly, PNG, HTML), UI-free."""
