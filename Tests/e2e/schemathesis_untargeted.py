"""The schemathesis command line with Hypothesis's `target` phase left out.

Hypothesis's target optimiser (which steers generation toward inputs an operation accepts) fails
now and then inside Hypothesis itself ("IndexError: Index 32 out of range", no check failed), which
turned the admin API fuzz test red for no finding about the gateway. Without that phase the inputs
are still generated, mutated, chained and shrunk; only the steering is gone.
"""

import hypothesis
from schemathesis.config import _projects

_hypothesis_settings = _projects.ProjectConfig.get_hypothesis_settings


def _untargeted_settings(self, **kwargs):
    settings = _hypothesis_settings(self, **kwargs)
    return hypothesis.settings(settings, phases=[phase for phase in settings.phases if phase is not hypothesis.Phase.target])


_projects.ProjectConfig.get_hypothesis_settings = _untargeted_settings

if __name__ == "__main__":
    import schemathesis.cli

    schemathesis.cli.schemathesis()
