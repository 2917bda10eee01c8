"""The runs a training job performs: read what they need from storage, call the pure
training code (app/training/, app/rl/), register what it made and gate it.

    ncf.py                 NCF: extract → prepare → validate data → train → evaluate baselines
                           → register → validate model (activate when not worse)
    rl.py                  RL: extract → simulate → train → evaluate → register → validate model
    run.py                 what both share: the run plan (idempotent per snapshot and config)
                           and the step clock
    interaction_models.py  Popularity and Session, refitted from the kept interactions
    sars_store.py          served recommendations and their journeys → stored SARS transitions
    retraining.py          whether enough has happened since the last NCF run to run it again
"""
