"""Every session-state key of the app, in one place (one browser session = one `st.session_state`).

Each key has one owner module, named in its comment: only the owner writes it
(others read it, or call the owner's function, e.g. `pickers.select_run`).
Widget keys are built from a prefix declared here ("train.<field>").
`tests/test_ui_state.py` reads the source of `tal/ui`, `app_pages` and
`app.py` and fails on any session key not taken from here.
"""

# the Train form
FORM = "train_form_values"  # last values of the Train form, survives page switches (owner: train_form)
FORM_WARNINGS = "train_form_warnings"  # query-parameter problems found on first load (owner: train_form)
FORM_NOTE = "train_form_note"  # why the form is on the synthetic digits (no MNIST here), or None (owner: train_form)
WIDGET_PREFIX = "train."  # prefix of the Train form's widget keys: "train.<field>" (owner: train_form)
OWN_UPLOAD = "own_data.upload"  # widget: a .zip (or .npz) of the user's own images (owner: own_data)
OWN_UPLOAD_NOTE = "own_data.upload_note"  # (kind, text) of what the last upload did or why it failed (owner: own_data)

# the Train page's live panel
JOB = "train_job"  # the TrainingJob this session shows: the newest its browser started (owner: train_panel)
START_ERROR = "train_start_error"  # why the last Start did not start, shown under the buttons (owner: train_panel)
REDRAW_FORM = "train_redraw_form"  # True: a panel button changed the form, the whole page reruns (owner: train_panel)
TRAIN_SEEN_ACTIVE = "train_panel_seen_active"  # the last full run of the panel saw an active job (owner: train_panel)
LAST_SAVED = "train_last_saved"  # path of the last run this session saved (owner: train_panel)
PROBE_UPLOAD = "train.probe_upload"  # widget: the user's own probe digit for the live maps (owner: train_panel)
LIVE_LAMBDA = "train.live_lambda."  # widget prefix: "<this><job id>", the running job's λ slider (owner: train_panel)

# the Studies page
STUDY_JOB = "study_job"  # this session's tal.ui.jobs.StudyJob (owner: studies)
STUDY_PREFIX = "study."  # prefix of the study designer's widget keys: "study.<name>" (owner: studies)
STUDY_ERROR = "study.error"  # why the last study did not start or resume, shown once (owner: studies)
STUDY_SEEN_ACTIVE = "study_seen_active"  # the last full run of the live study saw it active (owner: studies)
FOLLOWED = ".followed"  # suffix: "<saved-studies key>.followed", (job id, status) it last switched to (owner: studies)

# Inspect, Predict, Compare
SELECTED_RUN = "selected_run"  # path of the run chosen on Inspect / Predict; run pickers start from it (owner: pickers)
RANDOM_INDEX = "inspect_random_index"  # the test image drawn by "Random" (owner: pickers)
VIEW_UPDATES = "_tal_view_updates"  # how many image-view updates this session has seen (owner: views)
REPLAY_RUN = ".replay_run"  # suffix: "<replay key>.replay_run", the run the replay slider is on (owner: views)
COMPARE_PAIR = ".pair"  # suffix: "<maps-over-training key>.pair", the two runs its step slider is on (owner: compare)

# every run
RUN_STARTED = "_tal_run_started"  # time.perf_counter() when this script run began in app.py (owner: router)

# this browser
BROWSER = "tal_browser_token"  # its token, from its cookie or new: the jobs this session finds again (owner: browser)
