"""Streamlit building blocks of the explorer app; the only code in `tal` that imports streamlit.

One concept per module:

* `state`      session-state keys (one place, no typos)
* `guard`      friendly errors instead of tracebacks
* `loaders`    cached loaders: runs, models (per path + mtime), test sets
* `jobs`       the background training job manager (server-wide slot, FIFO queue)
* `progress`   the `tal.TrainingCallback` that feeds a job's live state
* `query`      the Train form's fields, defaults and URL (de)serialisation
* `train_form` the Train form widgets; `train_panel` the live training panel
* `pickers`    run and image pickers; `maps` the attention-map views
* `html_view`  an image's view as one HTML block the browser swaps in place
* `views`      Inspect's and Predict's image views, each a fragment (a new image re-runs only it)
* `tables`     UI-free tables for the Compare page
* `theory`     the Overview page's equations and data-flow diagram
* `sidebar`    the shared sidebar
* `streamlit_fixes` no Keras `clear_session()` and cheaper garbage collection after each run;
  `no_stale_fade` for views that update often

Pages import from here and stay thin; computations go through `tal.*`.
"""
