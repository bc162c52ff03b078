"""Session-state keys used across pages (one browser session = one `st.session_state`)."""

JOB = "train_job"  # this session's tal.ui.jobs.TrainingJob (never shared between sessions)
STUDY_JOB = "study_job"  # this session's tal.ui.jobs.StudyJob (the Studies page)
FORM = "train_form_values"  # last values of the Train form (survives page switches)
FORM_WARNINGS = "train_form_warnings"  # query-parameter problems found on first load
FORM_NOTE = "train_form_note"  # why the form did not start on its defaults (no MNIST here), or None
SELECTED_RUN = "selected_run"  # path of the run chosen on Inspect / Predict
RANDOM_INDEX = "inspect_random_index"  # test image drawn by "Random"
LAST_SAVED = "train_last_saved"  # path of the last run this session saved
WIDGET_PREFIX = "train."  # Train form widget keys: "train.<field>"
