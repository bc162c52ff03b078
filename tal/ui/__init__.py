"""Streamlit building blocks of the explorer app; the only code in `tal` that imports streamlit.

One concept per module:

* `state`      every session-state key, each with the one module that writes it
* `guard`      friendly errors instead of tracebacks; `guarded_fragment`, a fragment with its own guard
* `router`     the app's page table and per-run timing helpers
* `loaders`    cached loaders: runs, models (per path + mtime), test sets
* `jobs`       the background training job manager (server-wide slot, FIFO queue; finds a browser's jobs again)
* `browser`    which browser a session belongs to: an unguessable token kept in a cookie
* `query`      the Train form's fields, defaults and URL (de)serialisation
* `train_form` the Train form widgets; `train_panel` the live training panel
* `pickers`    run and image pickers; `maps` the attention-map views
* `html_view`  an image's view as one HTML block the browser swaps in place
* `views`      Inspect's and Predict's image views, each a fragment (a new image re-runs only it)
* `whatif`     Inspect's what-ifs: a branch's map switched to a neutral value
* `compare`    the Compare page's views
* `tables`     UI-free tables (lists of dicts) for Compare, Localization and Studies
* `localization` the Localization page's views
* `studies`    the Studies page: the study designer, the live study, saved studies
* `downloads`  download buttons for a run: its model file and its Keras code
* `theory`     the Overview page's equations and data-flow diagram
* `sidebar`    the shared sidebar
* `streamlit_fixes` no Keras `clear_session()` and cheaper garbage collection after each run;
  `no_stale_fade` for views that update often

Pages import from here and stay thin; computations go through `tal.*`.
"""
