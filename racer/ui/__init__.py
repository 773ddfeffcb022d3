"""`racer ui`: the local DeepRacer-style console, a FastAPI app over the user's folders.

What it owns: the web app (:mod:`racer.ui.app`, ``create_app``), the workspace and its path
rules (:mod:`racer.ui.workspace`: every path from a request resolved and refused outside it),
detached worker processes for the long actions (:mod:`racer.ui.jobs`, :mod:`racer.ui.worker`:
training, evaluation, export and leaderboard submissions run racer's own commands, so they
survive the browser and the server), the form -> recipe step with the CLI's one-line messages
(:mod:`racer.ui.recipes`), run summaries read from run folders (:mod:`racer.ui.runs`), the live
chase-camera stream (:mod:`racer.ui.live`) and the static pages (``static/``: HTML, CSS and
JavaScript written for racer; nothing is fetched from the internet).
"""
